/**
 * The broker under load: gateway, auth and the product backend, started the way an operator
 * starts them. With `WORKERS` (or the older `BENCH_WORKERS`) above 1: system/run.ts runComponents,
 * `WORKERS` node:cluster workers sharing the ports, as `npm start` does. With one: in this process
 * (startSystem), which also answers the bench's CPU-profile requests over IPC. Configured from the
 * environment like `npm start`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadConfig } from '../system/config.ts';
import { createBrokerLogger } from '../system/logger.ts';
import { runComponents } from '../system/run.ts';
import { startSystem, type ComponentName } from '../system/start.ts';

/**
 * The load comes from one app, one address (127.0.0.1) and a thousand VTs, far above any real
 * client's rate: the limits are raised out of reach, but stay on, so every limited request still
 * pays its store round trip and the figures include the limiter's cost. The environment wins.
 */
const UNREACHABLE_LIMITS = {
  RATE_LIMIT_ISSUANCE: '1000000', RATE_LIMIT_ISSUANCE_WINDOW_SECONDS: '1',
  RATE_LIMIT_EXCHANGE: '1000000', RATE_LIMIT_EXCHANGE_WINDOW_SECONDS: '1',
  RATE_LIMIT_PRODUCT: '1000000', RATE_LIMIT_PRODUCT_WINDOW_SECONDS: '1',
};
for (const [name, value] of Object.entries(UNREACHABLE_LIMITS)) process.env[name] ??= value;
// BENCH_WORKERS is the older name of the worker count here.
process.env.WORKERS ||= process.env.BENCH_WORKERS || '1';

/**
 * Which components this process runs (`BENCH_COMPONENTS`, default all three): the bench runs the
 * sample product backend in a process of its own (`products`) beside the broker (`auth,gateway`),
 * as a product team's service runs beside the broker, and points the proxy reference at it too.
 */
const COMPONENTS = (process.env.BENCH_COMPONENTS || 'products,auth,gateway').split(',').filter((c): c is ComponentName => ['products', 'auth', 'gateway'].includes(c));

if (Number(process.env.WORKERS) > 1) {
  await runComponents(COMPONENTS);
} else {
  const system = await startSystem(loadConfig(), { components: COMPONENTS, log: createBrokerLogger('bench') });
  const stop = async () => {
    await system.close(1000);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  if (process.send) listenForProfiling();
}

/**
 * CPU profiles on request from the bench (IPC, one process only): `{ profile: 'start' }` starts
 * V8's sampling profiler (what `--cpu-prof` runs, through the inspector), `{ profile: 'stop',
 * path }` writes the .cpuprofile there and answers `{ profiled: path }`. One profile per scenario,
 * in the same server process the figures come from.
 */
function listenForProfiling(): void {
  const session = new Session();
  session.connect();
  process.on('message', (msg: { profile?: 'start' | 'stop'; path?: string }) => {
    void (async () => {
      try {
        if (msg.profile === 'start') {
          await session.post('Profiler.enable');
          await session.post('Profiler.setSamplingInterval', { interval: 1000 });
          await session.post('Profiler.start');
          process.send!({ profiling: true });
        } else if (msg.profile === 'stop' && msg.path) {
          const { profile } = await session.post('Profiler.stop');
          writeFileSync(msg.path, JSON.stringify(profile));
          process.send!({ profiled: msg.path });
        }
      } catch (err) {
        process.send!({ profileError: (err as Error).message });
      }
    })();
  });
}
