/** Runs components as a service: config from the environment, a graceful stop on SIGTERM/SIGINT. */
import type http from 'node:http';
import net from 'node:net';
import { ConfigError, loadConfig } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { startSystem, type ComponentName, type RunningSystem } from './system.ts';

/** How long the requests in flight at SIGTERM may take to finish before their connections are cut (ms). */
const DRAIN_MS = 10_000;
/**
 * How long a connection accepted just before the stop may take to send its first request (ms):
 * its bytes are usually already in the socket buffer, only not read yet.
 */
const FIRST_REQUEST_GRACE_MS = 500;
/** After the stop, how long something left open may keep the process before it exits anyway (ms). */
const EXIT_GRACE_MS = 2000;
/**
 * The order of the stop: the components that serve the outside first, then auth and the product
 * backend, which serve them (in one process, the gateway's requests in flight still call them).
 */
const STOP_ORDER: readonly (readonly ComponentName[])[] = [['gateway', 'h5', 'demo'], ['auth', 'products']];

/**
 * A graceful stop for one HTTP server, prepared at start (it must see every connection). Node's
 * `server.close()` resets the connections still waiting in the listen backlog and destroys every
 * connection without a request in progress, among them ones accepted a moment before with a
 * whole request in their buffer, not read yet: clients would get a reset for requests they sent
 * before the stop. So `drain` accepts the backlog, then closes the listener only (new connections
 * are refused), lets each connection finish its request in flight, gives one that has not sent a
 * request yet FIRST_REQUEST_GRACE_MS to do so, marks every answer `Connection: close` (a
 * keep-alive client neither sends another request on it nor holds the close open for the
 * keep-alive timeout), and cuts what is left at the deadline.
 */
function prepareDrain(server: http.Server): { stopAccepting(): Promise<void>; finish(deadline: number): Promise<void> } {
  const connections = new Map<net.Socket, { accepted: number; requests: number; inFlight: number }>();
  const answers = new Set<http.ServerResponse>();
  let stopping = false;
  let acceptedTotal = 0;
  server.on('connection', (socket: net.Socket) => {
    acceptedTotal++;
    connections.set(socket, { accepted: Date.now(), requests: 0, inFlight: 0 });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = connections.get(req.socket);
    if (conn) {
      conn.requests++;
      conn.inFlight++;
    }
    answers.add(res);
    if (stopping) res.setHeader('Connection', 'close');
    res.once('close', () => {
      answers.delete(res);
      if (conn) conn.inFlight--;
    });
  });
  let closed: Promise<void> | undefined;
  return {
    async stopAccepting() {
      // Connections the kernel completed before the stop wait in the listen backlog, and closing
      // the listener would reset them; libuv accepts about one per turn of the event loop, so turn
      // it until three turns in a row accept none (bounded).
      const until = Date.now() + 1000;
      for (let quiet = 0; quiet < 3 && Date.now() < until; ) {
        const before = acceptedTotal;
        await new Promise((resolve) => setTimeout(resolve, 0));
        quiet = acceptedTotal === before ? quiet + 1 : 0;
      }
      stopping = true;
      for (const res of answers) if (!res.headersSent) res.setHeader('Connection', 'close');
      // net.Server's close, not http.Server's: the latter would destroy the idle connections at once.
      closed = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
    },
    async finish(deadline) {
      const sweep = setInterval(() => {
        const now = Date.now();
        for (const [socket, conn] of connections) {
          const waitingForFirst = conn.requests === 0 && now - conn.accepted < FIRST_REQUEST_GRACE_MS;
          // end(), not destroy(): an answer still in the socket's buffer goes out first.
          if (now >= deadline) socket.destroy();
          else if (conn.inFlight === 0 && !waitingForFirst) socket.end();
        }
      }, 20);
      await closed;
      clearInterval(sweep);
    },
  };
}

export async function runComponents(components: readonly ComponentName[], opts: { banner?: (s: RunningSystem) => void } = {}): Promise<void> {
  const log = createLogger('broker');
  let system: RunningSystem;
  try {
    const config = loadConfig();
    // The in-memory store is one process's: gateway and auth can use it only side by side.
    const split = components.includes('gateway') !== components.includes('auth');
    if (split && !config.redisUrl) {
      throw new ConfigError('REDIS_URL', 'is required when gateway and auth run as separate processes (they must share one store); `npm start` runs everything in one process on the in-memory store');
    }
    // Gateway, auth and product backend in different processes must present one credential.
    const internalParts = components.filter((c) => c === 'gateway' || c === 'auth' || c === 'products');
    if (internalParts.length > 0 && internalParts.length < 3 && !process.env.INTERNAL_TOKEN) {
      throw new ConfigError('INTERNAL_TOKEN', 'is required when gateway, auth and the product backend do not all run in this process (they must share one credential)');
    }
    system = await startSystem(config, { components, log });
  } catch (err) {
    // A start-up failure names its cause in one line; no stack trace for a bad setting.
    const msg = err instanceof Error ? err.message : String(err);
    log.fatal({ err: msg }, 'cannot start');
    process.stderr.write(`cannot start: ${msg}\n`);
    process.exit(1);
  }
  opts.banner?.(system);
  const waves = STOP_ORDER.map((names) => names.filter((name) => system.servers[name]).map((name) => ({ name, drain: prepareDrain(system.servers[name]!) })));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // A second signal (Ctrl-C twice) means now.
      log.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(1);
    }
    stopping = true;
    // Bounded whatever happens below: a stop never hangs.
    setTimeout(() => {
      log.error({ drainMs: DRAIN_MS }, 'the stop did not finish in time; exiting');
      process.exit(1);
    }, DRAIN_MS + 5000).unref();
    log.info({ signal }, 'stopping');
    const deadline = Date.now() + DRAIN_MS;
    try {
      for (const wave of waves.filter((w) => w.length > 0)) {
        await Promise.all(wave.map(({ drain }) => drain.stopAccepting()));
        log.info({ components: wave.map(({ name }) => name) }, 'no new connections; draining the requests in flight');
        await Promise.all(wave.map(({ drain }) => drain.finish(deadline)));
      }
      // Every server is closed by now; this stops the rest (key polls, upstream pools) and last
      // closes the store's connection, which the requests in flight needed up to here.
      await system.close(Math.max(0, deadline - Date.now()));
    } catch (err) {
      log.error({ err: (err as Error).message }, 'stopping failed');
      process.exit(1);
    }
    log.info('stopped');
    // Everything is closed now, the store's connection included, so the process ends by itself
    // with code 0. Something still open would be a bug: name it, and exit anyway.
    process.exitCode = 0;
    setTimeout(() => {
      log.warn({ open: process.getActiveResourcesInfo() }, 'still open after the stop; exiting anyway');
      process.exit(0);
    }, EXIT_GRACE_MS).unref();
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
