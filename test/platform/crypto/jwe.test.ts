import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { decryptCompact, decryptCompactAsync, encryptCompact, JweError, type DecryptOptions } from '../../../platform/crypto/jwe.ts';
import { generateEncryptionKey } from '../../../flows/keys/keys.ts';
import { testKey } from '../../support/system.ts';

async function outcome(fn: () => unknown): Promise<string> {
  try {
    const r = (await fn()) as { plaintext: Buffer };
    return `ok:${r.plaintext.toString()}`;
  } catch (err) {
    expect(err).to.be.instanceOf(JweError);
    return `error:${(err as Error).message}`;
  }
}

describe('JWE: the asynchronous RSA path opens exactly what the synchronous one opens', function () {
  const key = testKey('RSA-OAEP-256');
  const other = generateEncryptionKey('RSA-OAEP-256');
  const opts: DecryptOptions = { algorithms: ['RSA-OAEP-256'], key: () => key.privateKey };
  const seal = (to = key, text = 'hello') => encryptCompact({ header: { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: key.kid }, plaintext: text, key: to.publicKey });

  function swapPart(jwe: string, index: number, value: string): string {
    const parts = jwe.split('.');
    parts[index] = value;
    return parts.join('.');
  }

  const cases: [string, () => string][] = [
    ['a valid envelope', () => seal()],
    ['R wrapped to another key (bad OAEP padding)', () => seal(other)],
    ['a truncated encrypted key', () => swapPart(seal(), 1, seal().split('.')[1]!.slice(0, 40))],
    ['an empty encrypted key', () => swapPart(seal(), 1, '')],
    ['a flipped ciphertext byte', () => { const j = seal(); const ct = Buffer.from(j.split('.')[3]!, 'base64url'); ct[0]! ^= 1; return swapPart(j, 3, ct.toString('base64url')); }],
    ['a random tag', () => swapPart(seal(), 4, randomBytes(16).toString('base64url'))],
  ];
  for (const [name, make] of cases) {
    it(name, async function () {
      const jwe = make();
      const sync = await outcome(() => decryptCompact(jwe, opts));
      const async = await outcome(() => decryptCompactAsync(jwe, opts));
      expect(async).to.equal(sync);
      expect(sync).to.equal(name === 'a valid envelope' ? 'ok:hello' : 'error:JWE cannot be opened');
    });
  }

  it('many concurrent asynchronous opens all succeed, each with its own key', async function () {
    const jwes = Array.from({ length: 64 }, (_, i) => seal(key, `m${i}`));
    const opened = await Promise.all(jwes.map((j) => decryptCompactAsync(j, opts)));
    expect(opened.map((o) => o.plaintext.toString())).to.deep.equal(jwes.map((_, i) => `m${i}`));
    expect(new Set(opened.map((o) => o.cek.toString('hex'))).size).to.equal(64);
  });
});
