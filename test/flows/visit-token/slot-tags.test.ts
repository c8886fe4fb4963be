/**
 * Decision 80: the keys of one exchange share a Redis Cluster hash tag, the VT's `jti` carries it
 * and keeps its documented form, and a VT recorded before the change (untagged key) stays live.
 */
import { expect } from 'chai';
import { MemoryStore } from '../../../platform/store/index.ts';
import { atKey } from '../../../flows/access-token/records.ts';
import { JTI_RE, findVisitToken, legacyVtKey, newJti, redeemedKey, vtKey } from '../../../flows/visit-token/records.ts';
import { tokenHash } from '../../../platform/crypto/opaque.ts';

const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];

describe('slot tags: one exchange, one slot', function () {
  it('the AT, its kept copy and the VT record exchanged for it carry the same tag; the jti keeps its form', function () {
    for (let i = 0; i < 200; i++) {
      const atHash = tokenHash(`at-${i}-${Math.random()}`);
      const jti = newJti(atHash.slice(0, 3));
      expect(jti).to.match(JTI_RE);
      expect(tagOf(atKey(atHash))).to.equal(atHash.slice(0, 3));
      expect(tagOf(redeemedKey(atHash))).to.equal(atHash.slice(0, 3));
      expect(tagOf(vtKey(jti))).to.equal(atHash.slice(0, 3));
    }
    expect(newJti()).to.match(JTI_RE);
    expect(new Set(Array.from({ length: 1000 }, () => newJti('abc'))).size).to.equal(1000);
    expect(() => newJti('ab')).to.throw(TypeError);
    expect(() => newJti('a{}')).to.throw(TypeError);
  });

  it('a VT recorded under its old, untagged key is still found; a tagged record wins', async function () {
    const store = new MemoryStore();
    const now = Math.floor(Date.now() / 1000);
    const jti = newJti();
    const record = (userId: string) => JSON.stringify({ typ: 'vt', appId: 'demo-app', userId, productId: 'city-pass', iat: now, exp: now + 600 });
    expect(await findVisitToken(store, jti)).to.equal(undefined);
    await store.setIfAbsent(legacyVtKey(jti), record('old'), 600);
    expect((await findVisitToken(store, jti))?.userId).to.equal('old');
    await store.setIfAbsent(vtKey(jti), record('new'), 600);
    expect((await findVisitToken(store, jti))?.userId).to.equal('new');
    await store.close();
  });
});
