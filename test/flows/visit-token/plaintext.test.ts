/**
 * The envelope plaintext is exactly `{"at", "iat"}` with `iat` a positive integer (docs/protocol.md
 * section 2): anything else is envelope_invalid, and the AT inside is not spent.
 */
import { expect } from 'chai';
import { createPublicKey, randomBytes } from 'node:crypto';
import { encryptCompact } from '../../../platform/crypto/jwe.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import type { PublicEncJwk } from '../../../flows/keys/keys.ts';
import { demoClient, exchange, fetchEncJwk, openReply, sealEnvelope } from '../../support/clients.ts';
import { useTestSystem } from '../../support/system.ts';

function sealRaw(jwk: PublicEncJwk, plaintext: string): string {
  return encryptCompact({
    header: { alg: jwk.alg, enc: 'A256GCM', kid: jwk.kid },
    plaintext,
    key: createPublicKey({ key: { ...jwk } as Record<string, string>, format: 'jwk' }),
    cek: randomBytes(32),
  });
}

describe('the envelope plaintext is exactly {at, iat}', function () {
  const env = useTestSystem(() => new MemoryStore());

  for (const alg of ['RSA-OAEP-256', 'ECDH-ES+A256KW'] as const) {
    it(`refuses extra members, a fractional, zero, negative or string iat, and a missing member (${alg}); the AT stays unspent`, async function () {
      const gateway = env.system.urls.gateway;
      const token = await demoClient(gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      const jwk = await fetchEncJwk(gateway, alg);
      const now = Math.floor(Date.now() / 1000);
      const bad = [
        JSON.stringify({ at: token.at, iat: now, extra: 1 }),
        JSON.stringify({ at: token.at, iat: now + 0.5 }),
        JSON.stringify({ at: token.at, iat: 0 }),
        JSON.stringify({ at: token.at, iat: -now }),
        JSON.stringify({ at: token.at, iat: String(now) }),
        JSON.stringify({ at: token.at }),
        JSON.stringify([token.at, now]),
      ];
      for (const plaintext of bad) {
        const res = await exchange(gateway, sealRaw(jwk, plaintext));
        expect(res.status, plaintext).to.equal(400);
        expect(res.data.code, plaintext).to.equal('envelope_invalid');
      }
      // None of them spent the AT: the well-formed envelope still gets the VT.
      const good = sealEnvelope(jwk, token.at, now);
      const ok = await exchange(gateway, good.envelope);
      expect(ok.status, JSON.stringify(ok.data)).to.equal(200);
      expect(openReply(ok.data.envelope, good.r).userId).to.equal('alice');
    });
  }
});
