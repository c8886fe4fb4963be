/**
 * docs/signing-guide.md's shell example, run verbatim with bash (openssl + curl) against a broker on
 * 127.0.0.1 that loads the shipped registry (config/apps.json): only GATEWAY is set, to the test
 * gateway's address; the app id and secret are the guide's own defaults.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { createRegistry } from '../../flows/apps/registry.ts';
import { decryptCompact } from '../../platform/crypto/jwe.ts';
import { MemoryStore } from '../../platform/store/index.ts';
import type { RunningSystem } from '../../system/start.ts';
import { startTestSystem } from '../support/system.ts';
import { PROBLEMS } from '../../protocol/problems.ts';

const run = promisify(execFile);
const GUIDE = readFileSync(new URL('../../docs/signing-guide.md', import.meta.url), 'utf8');
const SHIPPED = JSON.parse(readFileSync(new URL('../../config/apps.json', import.meta.url), 'utf8'));

/** The guide's one ```bash block, exactly as written. */
function shellExample(): string {
  const blocks = [...GUIDE.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  expect(blocks, 'one bash block in the guide').to.have.length(1);
  return blocks[0]!;
}

describe('docs/signing-guide.md: the shell example', function () {
  let system: RunningSystem;
  const runExample = async (env: Record<string, string>) => {
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', shellExample()], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 20_000 });
    const lines = stdout.trimEnd().split('\n');
    return { status: lines.at(-1), body: JSON.parse(lines.slice(0, -1).join('\n')) };
  };

  before(async function () {
    system = await startTestSystem({ store: new MemoryStore(), system: { registry: () => createRegistry(SHIPPED) } });
  });
  after(async function () {
    await system?.close(0);
  });

  it('makes a signed call that gets a sealed AT for alice and city-pass (twice: a fresh nonce each time)', async function () {
    for (let i = 0; i < 2; i++) {
      const { status, body } = await runExample({ GATEWAY: system.urls.gateway });
      expect(status, JSON.stringify(body)).to.equal('HTTP 201');
      const demo = SHIPPED.apps.find((a: { appId: string }) => a.appId === 'demo-app');
      const { plaintext } = decryptCompact(body.accessToken, { algorithms: ['A256KW'], key: () => Buffer.from(demo.encKey, 'base64url') });
      const at = JSON.parse(plaintext.toString('utf8'));
      expect(at).to.include({ userId: 'alice', productId: 'city-pass' });
      expect(at.at).to.match(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it('with another secret it is invalid_signature, with the challenge the guide names', async function () {
    const wrong = await runExample({ GATEWAY: system.urls.gateway, APP_SECRET: 'not-the-secret-0123456789abcdefghijklmnop' });
    expect(wrong.status).to.equal('HTTP 401');
    expect(wrong.body.code).to.equal('invalid_signature');
    expect(GUIDE.replace(/\s+/g, ' ')).to.include(`\`WWW-Authenticate: ${PROBLEMS.invalid_signature.challenge}\``);
  });
});
