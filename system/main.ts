/** `npm start`: every component in one process, on the in-memory store unless REDIS_URL is set. */
import { loadConfig } from './config.ts';
import { runComponents } from './run.ts';

await runComponents(['products', 'auth', 'gateway', 'h5', 'demo'], {
  banner(system) {
    const config = loadConfig();
    const lines = [
      '',
      'H5 access broker is running',
      `  store            ${system.store.kind === 'redis' ? `redis (${config.redisTarget?.mode === 'single' ? config.redisUrl : config.redisTarget?.mode})` : 'in-memory (development only; set REDIS_URL for Redis)'}`,
      `  gateway          ${system.urls.gateway}   (public API; JWKS at /.well-known/jwks.json)`,
      `  auth             ${system.urls.auth}   (internal)`,
      `  h5 pages         ${system.urls.h5}/h5/products/<productId>`,
      `  product backend  ${system.urls.products}   (internal)`,
      `  third-party demo ${system.urls.demo}   <- open this in a browser`,
      `  demo app id      ${config.demoAppId}`,
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  },
});
