/**
 * The admin CLI (`npm run admin`, scripts/admin.ts over flows/apps/admin.ts) against the store the
 * services use, memory and Redis: import, register (secret shown once), list and show (never a
 * secret), set products, origins, networks and audiences, disable and enable, and a secret
 * rotation under a loop of signed calls with no failure; the running services see every change
 * without a restart (APPS_SOURCE=store, flows/apps/store-registry.ts). And the CLI as a process.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { MemoryStore, type TokenStore } from '../../../platform/store/index.ts';
import { StoreRegistry } from '../../../flows/apps/store-registry.ts';
import { AdminError } from '../../../flows/apps/admin.ts';
import { runAdmin, UsageError } from '../../../scripts/admin.ts';
import { BrokerClient, isBrokerError } from '../../../sdk/index.ts';
import { startSystem, type RunningSystem } from '../../../system/start.ts';
import { connectTestRedis, TEST_REDIS_URL } from '../../support/env.ts';
import { DEMO_APP, testConfig, testKek, testKeys, testSigningKey } from '../../support/system.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'admin-test-'));
const APPS_FILE = join(dir, 'apps.json');
writeFileSync(APPS_FILE, JSON.stringify({ apps: [{ ...DEMO_APP, allowedOrigins: [] }] }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of ['memory', 'redis'] as const) {
  describe(`admin CLI against the ${kind} store, services with APPS_SOURCE=store`, function () {
    let store: TokenStore;
    let system: RunningSystem;
    const config = testConfig({ APPS_FILE, APPS_SOURCE: 'store' });
    const admin = (...argv: string[]) => runAdmin(argv, { store, config });
    const adminJson = async (...argv: string[]) => JSON.parse(await admin(...argv, '--json'));
    /** Until the running services hold at least `version` of the registry (they poll every 50 ms). */
    async function seen(version: number) {
      const registry = system.registry as StoreRegistry;
      for (let i = 0; i < 200 && registry.version < version; i++) await sleep(25);
      expect(registry.version).to.be.at.least(version);
    }
    const client = (appId: string, appSecret: string, encKey: string) =>
      new BrokerClient({ gatewayUrl: system.urls.gateway, appId, appSecret, encKey, retries: 0 });

    before(async function () {
      store = kind === 'memory' ? new MemoryStore() : await connectTestRedis(this);
      system = await startSystem(config, {
        components: ['gateway', 'auth', 'products'], store, keys: testKeys(), signingKey: testSigningKey(), kek: testKek(),
        keysPollMs: 50, log: pino({ level: 'silent' }),
      });
    });
    after(async function () {
      await system?.close(0);
      await store?.close();
    });

    it('the first service on an empty store imported APPS_FILE; import again is refused; list shows no secret', async function () {
      expect(system.registry).to.be.instanceOf(StoreRegistry);
      expect(system.registry.get('demo-app')?.appSecret).to.equal(DEMO_APP.appSecret);
      try {
        await admin('import', '--file', APPS_FILE);
        expect.fail('import over an existing registry');
      } catch (err) {
        expect(err).to.be.instanceOf(AdminError);
        expect((err as Error).message).to.match(/already holds an app registry/);
      }
      const listed = await adminJson('list');
      expect(listed.version).to.equal(1);
      expect(listed.apps.map((a: { appId: string }) => a.appId)).to.deep.equal(['demo-app']);
      const text = await admin('list');
      expect(text).to.include('demo-app');
      expect(JSON.stringify(listed) + text).to.not.include(DEMO_APP.appSecret);
      expect(JSON.stringify(listed) + text).to.not.include(DEMO_APP.encKey);
    });

    it('register: the secret and encKey are shown once, and the running gateway takes the new app without a restart', async function () {
      const out = await adminJson('register', 'new-app', '--products', 'city-pass', '--name', 'New app');
      expect(out.appSecret).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(out.encKey).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(await admin('show', 'new-app')).to.not.include(out.appSecret);
      await seen(out.version);
      const token = await client('new-app', out.appSecret, out.encKey).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      expect(token.productId).to.equal('city-pass');
      // Not another product until it is set.
      const refused = await client('new-app', out.appSecret, out.encKey).requestAccessToken({ userId: 'alice', productId: 'savings-plus' }).catch((e) => e);
      expect(isBrokerError(refused, 'forbidden_product')).to.equal(true);
      const set = await adminJson('set', 'new-app', '--products', 'city-pass,savings-plus', '--networks', '127.0.0.0/8', '--audiences', 'https://partner-new.example/api', '--origins', 'https://app.example');
      expect(set.app).to.deep.include({ products: ['city-pass', 'savings-plus'], trustedNetworks: ['127.0.0.0/8'], audiences: ['https://partner-new.example/api'], allowedOrigins: ['https://app.example'] });
      await seen(set.version);
      const bound = await client('new-app', out.appSecret, out.encKey).requestAccessToken({ userId: 'alice', productId: 'savings-plus', audience: 'https://partner-new.example/api' });
      expect(bound.audience).to.equal('https://partner-new.example/api');
      // A network that leaves us out: refused until removed again.
      const outside = await adminJson('set', 'new-app', '--networks', '10.0.0.0/8');
      await seen(outside.version);
      expect(isBrokerError(await client('new-app', out.appSecret, out.encKey).requestAccessToken({ userId: 'a', productId: 'city-pass' }).catch((e) => e), 'untrusted_network')).to.equal(true);
      const anywhere = await adminJson('set', 'new-app', '--networks', '');
      expect(anywhere.app.trustedNetworks).to.equal(undefined);
      await seen(anywhere.version);
      expect((await client('new-app', out.appSecret, out.encKey).requestAccessToken({ userId: 'a', productId: 'city-pass' })).userId).to.equal('a');
    });

    it('disable makes the app unknown (invalid_signature, invalid_client); enable brings it back', async function () {
      const c = client(DEMO_APP.appId, DEMO_APP.appSecret, DEMO_APP.encKey);
      const off = await adminJson('disable', 'demo-app');
      expect(off.app.disabled).to.equal(true);
      await seen(off.version);
      expect(isBrokerError(await c.requestAccessToken({ userId: 'a', productId: 'city-pass' }).catch((e) => e), 'invalid_signature')).to.equal(true);
      expect(isBrokerError(await c.introspect('x.y.z').catch((e) => e), 'invalid_client')).to.equal(true);
      const on = await adminJson('enable', 'demo-app');
      await seen(on.version);
      expect((await c.requestAccessToken({ userId: 'a', productId: 'city-pass' })).userId).to.equal('a');
    });

    it('rotate-secret under a loop of signed calls: no call fails; the old secret stops after the overlap', async function () {
      this.timeout(30_000);
      let secret = DEMO_APP.appSecret;
      let running = true;
      const failures: unknown[] = [];
      let calls = 0;
      // Two callers in a loop, each call signed with the secret the app holds at that moment.
      const loop = async () => {
        while (running) {
          try {
            await client(DEMO_APP.appId, secret, DEMO_APP.encKey).requestAccessToken({ userId: 'loop', productId: 'city-pass' });
            await client(DEMO_APP.appId, secret, DEMO_APP.encKey).introspect('x.y.z');
            calls++;
          } catch (err) {
            failures.push(err);
          }
        }
      };
      const loops = [loop(), loop()];
      await sleep(200);
      const old = secret;
      const rotated = await adminJson('rotate-secret', 'demo-app', '--overlap', '3');
      expect(rotated.appSecret).to.not.equal(old);
      await sleep(200); // the old secret keeps working while the services learn the new one
      await seen(rotated.version);
      secret = rotated.appSecret; // the third party switches once the services have it (after KEYS_POLL_SECONDS)
      await sleep(300);
      running = false;
      await Promise.all(loops);
      expect(failures.map(String)).to.deep.equal([]);
      expect(calls).to.be.greaterThan(10);
      expect((await adminJson('show', 'demo-app')).previousSecretsUntil).to.deep.equal([rotated.previousValidUntil]);
      // Both verify now; after the overlap only the new one.
      expect((await client(DEMO_APP.appId, old, DEMO_APP.encKey).requestAccessToken({ userId: 'a', productId: 'city-pass' })).userId).to.equal('a');
      while (Date.now() / 1000 <= rotated.previousValidUntil) await sleep(100);
      expect(isBrokerError(await client(DEMO_APP.appId, old, DEMO_APP.encKey).requestAccessToken({ userId: 'a', productId: 'city-pass' }).catch((e) => e), 'invalid_signature')).to.equal(true);
      expect(isBrokerError(await client(DEMO_APP.appId, old, DEMO_APP.encKey).introspect('x.y.z').catch((e) => e), 'invalid_client')).to.equal(true);
      expect((await client(DEMO_APP.appId, secret, DEMO_APP.encKey).requestAccessToken({ userId: 'a', productId: 'city-pass' })).userId).to.equal('a');
    });

    it('clear errors: unknown app, a change the registry refuses, usage', async function () {
      const expectError = async (argv: string[], type: new (...args: never[]) => Error, message: RegExp) => {
        try {
          await admin(...argv);
          expect.fail(`${argv.join(' ')} succeeded`);
        } catch (err) {
          expect(err, argv.join(' ')).to.be.instanceOf(type);
          expect((err as Error).message).to.match(message);
        }
      };
      const before = (await adminJson('list')).version;
      await expectError(['show', 'nobody'], AdminError, /no app "nobody"/);
      await expectError(['disable', 'nobody'], AdminError, /no app "nobody"/);
      await expectError(['set', 'demo-app', '--products', 'Not A Product'], AdminError, /refused: .*products/);
      await expectError(['set', 'demo-app', '--networks', '10.0.0.0/33'], AdminError, /refused: .*trustedNetworks/);
      await expectError(['set', 'new-app', '--audiences', 'https://partner-new.example/api,http://evil.example/'], AdminError, /refused: .*audiences/);
      await expectError(['register', 'demo-app', '--products', 'city-pass'], AdminError, /already registered/);
      await expectError(['register', 'x'], UsageError, /--products/);
      await expectError(['rotate-secret', 'demo-app', '--overlap', 'soon'], UsageError, /--overlap/);
      await expectError(['frobnicate'], UsageError, /unknown command/);
      await expectError(['list', '--colour'], UsageError, /unknown option/);
      await expectError(['set', 'demo-app'], AdminError, /nothing to set/);
      // Nothing refused was written.
      expect((await adminJson('list')).version).to.equal(before);
    });

    it('keys list shows the signing key set the services use', async function () {
      const out = await adminJson('keys', 'list');
      expect(out.output).to.include(testSigningKey().kid);
    });
  });
}

describe('admin CLI as a process (npm run admin)', function () {
  it('against Redis: import, register, list --json, exit codes and messages', async function () {
    this.timeout(60_000);
    const probe = await connectTestRedis(this);
    await probe.close();
    const env = { ...process.env, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: `test:admin-cli-${process.pid}:`, APPS_FILE, LOG_LEVEL: 'silent' };
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'scripts/admin.ts', ...args], { env, cwd: new URL('../../../', import.meta.url).pathname })
      .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));
    expect((await cli('import')).stdout).to.match(/imported 1 app\(s\)/);
    const reg = await cli('register', 'cli-app', '--products', 'city-pass', '--json');
    expect(reg.code).to.equal(0);
    expect(JSON.parse(reg.stdout).appSecret).to.match(/^[A-Za-z0-9_-]{43}$/);
    const listed = JSON.parse((await cli('list', '--json')).stdout);
    expect(listed.apps.map((a: { appId: string }) => a.appId)).to.deep.equal(['demo-app', 'cli-app']);
    const missing = await cli('show', 'nobody');
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.equal('admin: no app "nobody" in the registry\n');
    const usage = await cli('frobnicate', '--json');
    expect(usage.code).to.equal(2);
    expect(JSON.parse(usage.stderr)).to.deep.equal({ error: 'usage', message: 'unknown command frobnicate' });
    const noRedis = await run(process.execPath, ['--import', 'tsx', 'scripts/admin.ts', 'list'], { env: { ...env, REDIS_URL: '' }, cwd: new URL('../../../', import.meta.url).pathname }).catch((e) => e);
    expect(noRedis.code).to.equal(1);
    expect(noRedis.stderr).to.match(/REDIS_URL is required/);
    const { deleteTestKeys } = await import('../../support/env.ts');
    await deleteTestKeys(env.REDIS_PREFIX);
  });
});
