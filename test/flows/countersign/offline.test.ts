/**
 * The relay path with an offline device: the relay runs as its own program (`npm run relay`'s
 * script), starts the device as a child process in a network namespace of its own (`unshare -rn`:
 * no interface but a downed loopback, so no route to the gateway or anywhere), and speaks to it
 * over the child's stdin and stdout only. The device first tries to reach the gateway itself and
 * reports that it could not; the payment is approved anyway and the product backend accepts the grant.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { MemoryStore } from '../../../platform/store/index.ts';
import { IN_CI } from '../../support/env.ts';
import { useTestSystem } from '../../support/system.ts';
import { http } from '../../support/clients.ts';
import { confirmPayment, newUser, PAYMENT } from './support.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('countersign: the relay program with an offline device (no route to the gateway)', function () {
  this.timeout(90_000);
  const s = useTestSystem(() => new MemoryStore());
  let dir: string;
  before(function () {
    // Without network namespaces the test cannot take the device off the network: skipped on a
    // developer's machine, a failure in CI.
    if (spawnSync('unshare', ['-rn', 'true']).status !== 0) {
      if (IN_CI) throw new Error('unshare -rn (util-linux, user namespaces) is required under CI=true');
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'countersign-'));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('the device, in a namespace with no network, gets its payment approved through the relay only', async function () {
    const gw = s.system.urls.gateway;
    const user = await newUser(gw, 'offline');
    const jwks = (await http.get(`${gw}/.well-known/jwks.json`)).data.keys as { use: string }[];
    writeFileSync(join(dir, 'relay.json'), JSON.stringify(user.relayKey.privateKey.export({ format: 'jwk' })));
    writeFileSync(join(dir, 'device.json'), JSON.stringify({
      app: 'demo-app', sub: user.userId, key: user.deviceKey.privateKey.export({ format: 'jwk' }), pinned: jwks.filter((k) => k.use === 'sig'),
      operation: 'payment.confirm', params: PAYMENT, level: 1, probe: `${gw}/healthz`,
    }));
    const out = await run(process.execPath, [
      '--import', 'tsx', 'flows/countersign/relay.ts', '--gateway', gw, '--key', join(dir, 'relay.json'), '--',
      'unshare', '-rn', process.execPath, '--import', 'tsx', 'flows/countersign/device-main.ts', join(dir, 'device.json'),
    ]);
    const lines = (text: string) => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const relayOutcome = lines(out.stdout).at(-1);
    const deviceOutcome = lines(out.stderr).find((l) => l.type === 'done');
    expect(out.code, out.stderr).to.equal(0);
    expect(relayOutcome).to.deep.include({ status: 'approved' });
    // The relay showed what the broker verified before it approved.
    expect(out.stderr).to.include('relay: verified payment.confirm 42.50 EUR to Lisbon Transit SA (level 1): approved');
    // The device could not reach the gateway, yet its countersigned payment was approved.
    expect(deviceOutcome).to.deep.include({ probe: 'unreachable', status: 'approved' });
    const paid = await confirmPayment(gw, user.vt, { ...PAYMENT, grant: deviceOutcome!.grant });
    expect(paid.status, JSON.stringify(paid.data)).to.equal(200);
    expect(paid.data.status).to.equal('confirmed');
  });

  it('the same device with a network reports the gateway reachable (the probe can tell)', async function () {
    const gw = s.system.urls.gateway;
    const probe = await run(process.execPath, ['-e', `fetch(${JSON.stringify(`${gw}/healthz`)}).then(() => console.log('reachable'), () => console.log('unreachable'))`]);
    expect(probe.stdout.trim()).to.equal('reachable');
    const offline = await run('unshare', ['-rn', process.execPath, '-e', `fetch(${JSON.stringify(`${gw}/healthz`)}).then(() => console.log('reachable'), () => console.log('unreachable'))`]);
    expect(offline.stdout.trim()).to.equal('unreachable');
  });
});
