/**
 * Run as a child process (`node --import tsx test/support/loaded-modules.ts gateway,auth`): starts
 * the named components on ports 0 with the in-memory store, then prints, as one JSON line on
 * stdout, the URL of every module that was loaded, and stops. A module resolve hook records them,
 * registered before anything of the broker is imported.
 */
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

const { port1, port2 } = new MessageChannel();
const loaded = new Set<string>();
port1.on('message', (url: string) => loaded.add(url));
const hook = [
  'let port;',
  'export function initialize(data) { port = data.port; }',
  'export async function resolve(specifier, context, next) { const r = await next(specifier, context); port.postMessage(r.url); return r; }',
].join('\n');
register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { port: port2 }, transferList: [port2] });

const { loadConfig } = await import('../../system/config.ts');
const { createBrokerLogger } = await import('../../system/logger.ts');
const { startSystem } = await import('../../system/start.ts');
type Component = 'gateway' | 'auth' | 'h5' | 'products' | 'demo';
const components = (process.argv[2] ?? '').split(',').filter(Boolean) as Component[];
const config = loadConfig({
  NODE_ENV: 'test', GATEWAY_PORT: '0', AUTH_PORT: '0', H5_PORT: '0', PRODUCTS_PORT: '0', DEMO_PORT: '0', AUTH_KEYS_FILE: '',
});
const system = await startSystem(config, { components, log: createBrokerLogger('loaded-modules', 'silent') });
// The hook's messages cross a thread: give the last ones a moment to arrive.
await new Promise((resolve) => setTimeout(resolve, 100));
process.stdout.write(JSON.stringify([...loaded]) + '\n');
await system.close(0);
port1.close();
