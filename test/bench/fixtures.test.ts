/** The benchmark's fixtures must be what a page sends, or the exchange figures measure errors. */
import { expect } from 'chai';
import { redeemedKey } from '../../flows/visit-token/records.ts';
import { decryptCompact } from '../../platform/crypto/jwe.ts';
import { MemoryStore } from '../../platform/store/index.ts';
import { atKey } from '../../flows/access-token/records.ts';
import { tokenHash } from '../../platform/crypto/opaque.ts';
import { makeAccessTokens, rearmAccessTokens, sealEnvelopes } from '../../bench/fixtures.ts';
import { testKeys } from '../support/system.ts';

describe('benchmark fixtures', function () {
  it('every sealed envelope opens with our server code and carries its AT', async function () {
    const store = new MemoryStore();
    const who = { appId: 'demo-app', userId: 'alice', productId: 'city-pass' };
    const ats = await makeAccessTokens(store, 450, who);
    for (const key of testKeys()) {
      const envelopes = sealEnvelopes(ats, key);
      expect(envelopes).to.have.length(ats.length);
      envelopes.forEach((jwe, i) => {
        const { header, plaintext } = decryptCompact(jwe, { algorithms: ['RSA-OAEP-256', 'ECDH-ES+A256KW'], key: () => key.privateKey });
        expect(header.alg).to.equal(key.publicJwk.alg);
        expect(JSON.parse(plaintext.toString()).at).to.equal(ats[i]);
      });
    }
    // As the exchange consumes it, keeping the AT record for a retry (decision 41).
    const step = { tombstone: 'used:x', ttlSeconds: 60, now: Math.floor(Date.now() / 1000), companions: [{ key: redeemedKey(tokenHash(ats[0]!)), ttlSeconds: 60, copy: true as const }] };
    expect((await store.consume(atKey(tokenHash(ats[0]!)), step)).outcome).to.equal('consumed');
    expect(await store.get(atKey(tokenHash(ats[0]!)))).to.equal('used:x');
    await rearmAccessTokens(store, ats.slice(0, 1), who);
    expect(JSON.parse((await store.get(atKey(tokenHash(ats[0]!))))!).typ).to.equal('at');
    // Re-armed, it redeems again: the kept copy is gone too, so the step is no collision.
    expect((await store.consume(atKey(tokenHash(ats[0]!)), step)).outcome).to.equal('consumed');
    await store.close();
  });
});
