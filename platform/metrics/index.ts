/**
 * Prometheus metrics (prom-client) with no domain words: one registry per process, the helpers a
 * module declares its series with (at its top level, once: `const issued = counter(...)`), the
 * process series (event-loop lag, memory, CPU), and the text of `GET /metrics`, aggregated over the
 * worker processes when the process is a node:cluster primary (prom-client's AggregatorRegistry).
 * The series the broker declares are listed in docs/metrics.md.
 */
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

/** This process's series. Workers report it to the primary, which answers `/metrics` for all. */
export const metricsRegistry = new Registry();

/** Latency buckets (s) for requests and store commands: 0.5 ms to 5 s. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

function declared<M extends Metric>(name: string, make: () => M): M {
  // One series per name however often a module asks (a test may load a module twice).
  return (metricsRegistry.getSingleMetric(name) as M | undefined) ?? make();
}

/** A counter; `labels` are its label names (keep their values few: no ids, no users). */
export function counter<L extends string = string>(name: string, help: string, labels: readonly L[] = []): Counter<L> {
  return declared(name, () => new Counter<L>({ name, help, labelNames: labels, registers: [metricsRegistry] }));
}

/** A histogram, by default of latencies in seconds (LATENCY_BUCKETS). */
export function histogram<L extends string = string>(name: string, help: string, labels: readonly L[] = [], buckets: readonly number[] = LATENCY_BUCKETS): Histogram<L> {
  return declared(name, () => new Histogram<L>({ name, help, labelNames: labels, buckets: [...buckets], registers: [metricsRegistry] }));
}

/** A gauge; summed over workers unless `aggregator` says otherwise. */
export function gauge<L extends string = string>(name: string, help: string, labels: readonly L[] = [], aggregator: 'sum' | 'max' | 'min' | 'average' | 'first' = 'sum'): Gauge<L> {
  return declared(name, () => new Gauge<L>({ name, help, labelNames: labels, aggregator, registers: [metricsRegistry] }));
}

let processMetrics = false;
/**
 * Starts the process series (prom-client's defaults: `nodejs_eventloop_lag_*`, heap, GC, CPU,
 * open handles), once per process; a worker also starts answering the primary's metric requests.
 */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: metricsRegistry, eventLoopMonitoringPrecision: 20 });
  if (cluster.isWorker) {
    AggregatorRegistry.setRegistries([metricsRegistry]);
    // Constructing one installs the worker's answer to the primary (idempotent in prom-client).
    new AggregatorRegistry();
  }
}

let aggregator: AggregatorRegistry<any> | undefined;

/** The text of `GET /metrics`: this process's series, or in a primary every worker's, summed. */
export async function metricsText(): Promise<{ contentType: string; body: string }> {
  if (cluster.isPrimary && Object.keys(cluster.workers ?? {}).length > 0) {
    aggregator ??= new AggregatorRegistry();
    return { contentType: aggregator.contentType, body: await aggregator.clusterMetrics() };
  }
  return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() };
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (and nothing else: 404) on its own port, never the public one: the series
 * name routes and codes, which are for operators only.
 */
export async function startMetricsServer(port: number, host: string, onError?: (err: Error) => void): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metricsText().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body),
      (err: Error) => {
        onError?.(err);
        res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
