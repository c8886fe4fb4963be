/**
 * The reply envelope (protocol section 2): every reply sealed under R has a fresh random 96-bit IV
 * and a 128-bit tag. Under one R a repeated IV would be GCM nonce reuse (the XOR of two replies'
 * plaintexts and a forgeable tag), and an IV copied from the request would repeat the request's
 * keystream. So 10,000 real exchanges over HTTP (gateway -> auth -> Redis), every one with the
 * same R and the same request IV, and every reply is checked.
 */
import { constants, createCipheriv, publicEncrypt, randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { expect } from 'chai';
import axios from 'axios';
import { makeAccessTokens } from '../../../bench/fixtures.ts';
import { b64u, decryptCompact } from '../../../platform/crypto/jwe.ts';
import type { EncryptionKey } from '../../../flows/keys/keys.ts';
import { nowSeconds } from '../../../platform/time.ts';
import { connectTestRedis, deleteTestKeys } from '../../support/env.ts';
import { DEMO_APP, testKey, useTestSystem } from '../../support/system.ts';

const EXCHANGES = 10_000;
const CONCURRENCY = 64;
const WHO = { appId: DEMO_APP.appId, userId: 'alice', productId: 'city-pass' };

/**
 * An envelope as a page seals it, except that R, the wrapped R and the IV are the caller's: every
 * envelope here shares them and differs only in its AT.
 */
function envelopeFor(key: EncryptionKey, wrappedR: Buffer, r: Buffer, iv: Buffer, at: string): string {
  const protectedB64 = b64u(JSON.stringify({ alg: key.alg, enc: 'A256GCM', kid: key.kid }));
  const c = createCipheriv('aes-256-gcm', r, iv);
  c.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ct = Buffer.concat([c.update(JSON.stringify({ at, iat: nowSeconds() })), c.final()]);
  return [protectedB64, b64u(wrappedR), b64u(iv), b64u(ct), b64u(c.getAuthTag())].join('.');
}

describe('reply envelopes under one R: a fresh 96-bit IV every time, a 128-bit tag', function () {
  this.timeout(60_000);
  // 10,000 exchanges from one address is far over the per-address exchange limit: turned off here.
  const prefix = `test:reply-iv:${randomBytes(6).toString('hex')}:`;
  const suite = useTestSystem((ctx) => connectTestRedis(ctx, prefix), { env: { RATE_LIMIT_EXCHANGE: 'off' } });
  // 20,000 keys (ATs and VTs) are not left behind for their TTLs.
  after(() => deleteTestKeys(prefix));

  it(`10,000 exchanges over HTTP with the same R and request IV: 12-byte IVs, 16-byte tags, no IV twice, none the request's`, async () => {
    const key = testKey('RSA-OAEP-256');
    const r = randomBytes(32);
    const requestIv = randomBytes(12);
    const wrappedR = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, r);
    const ats = await makeAccessTokens(suite.store, EXCHANGES, WHO);
    const envelopes = ats.map((at) => envelopeFor(key, wrappedR, r, requestIv, at));

    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const client = axios.create({ validateStatus: () => true, proxy: false, timeout: 20_000, httpAgent: agent });
    const url = `${suite.system.urls.gateway}/v1/visit-tokens`;
    const replies: string[] = new Array(EXCHANGES);
    const failures: string[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < EXCHANGES) {
        const i = next++;
        const res = await client.post(url, { envelope: envelopes[i] }, { headers: { 'content-type': 'application/json' } });
        if (res.status === 200 && typeof res.data?.envelope === 'string') replies[i] = res.data.envelope;
        else failures.push(`${i}: ${res.status} ${JSON.stringify(res.data)}`);
      }
    }));
    agent.destroy();
    const seconds = (performance.now() - started) / 1000;
    console.log(`      ${EXCHANGES} exchanges in ${seconds.toFixed(1)} s (${Math.round(EXCHANGES / seconds)}/s)`);
    expect(failures.slice(0, 5)).to.deep.equal([]);

    const ivs = new Set<string>();
    let checked = 0;
    for (const [i, reply] of replies.entries()) {
      const parts = reply.split('.');
      expect(parts, `reply ${i}`).to.have.length(5);
      const [h, ek, iv, , tag] = parts as [string, string, string, string, string];
      expect(Buffer.from(h, 'base64url').toString(), `reply ${i} header`).to.equal('{"alg":"dir","enc":"A256GCM"}');
      expect(ek, `reply ${i} encrypted key`).to.equal('');
      const ivBytes = Buffer.from(iv, 'base64url');
      expect(ivBytes, `reply ${i} IV`).to.have.length(12);
      expect(Buffer.from(tag, 'base64url'), `reply ${i} tag`).to.have.length(16);
      expect(ivBytes.equals(requestIv), `reply ${i} IV is the request's`).to.equal(false);
      ivs.add(iv);
      // Sealed under R, for this exchange's user and product.
      const opened = JSON.parse(decryptCompact(reply, { algorithms: ['dir'], key: () => r }).plaintext.toString());
      expect(opened, `reply ${i}`).to.include({ productId: WHO.productId, userId: WHO.userId });
      checked++;
    }
    expect(checked).to.equal(EXCHANGES);
    expect(ivs.size, 'distinct reply IVs').to.equal(EXCHANGES);
  });
});
