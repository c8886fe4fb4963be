import { expect } from 'chai';
import { MemoryStore } from '../../../platform/store/index.ts';
import { connectTestRedis } from '../../support/env.ts';
import { demoClient, exchange, fetchEncJwk, http, openReply, sealEnvelope } from '../../support/clients.ts';
import { startTestSystem, useTestSystem } from '../../support/system.ts';

// Gateway and auth in one process call each other directly; the last run goes over auth's HTTP
// port as a gateway in another process does.
for (const [kind, authTransport] of [['memory', 'local'], ['redis', 'local'], ['redis', 'http']] as const) {
  describe(`the AT is single use (${kind} store, gateway -> auth ${authTransport})`, function () {
    const env = useTestSystem((ctx) => (kind === 'memory' ? new MemoryStore() : connectTestRedis(ctx)), { system: { authTransport } });

    async function newEnvelopes(count: number) {
      const token = await demoClient(env.system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'travel-insurance' });
      const jwk = await fetchEncJwk(env.system.urls.gateway);
      // Each page seals the same AT under its own R, as 50 copies of a stolen link would.
      return Array.from({ length: count }, () => sealEnvelope(jwk, token.at));
    }

    it('50 parallel exchanges of one AT give exactly one VT; the others get at_invalid', async function () {
      const sealed = await newEnvelopes(50);
      const answers = await Promise.all(sealed.map((s) => exchange(env.system.urls.gateway, s.envelope)));
      const ok = answers.filter((a) => a.status === 200);
      expect(ok).to.have.length(1);
      for (const a of answers.filter((x) => x.status !== 200)) {
        expect(a.status).to.equal(401);
        expect(a.data.code).to.equal('at_invalid');
      }
      // Only the winner's reply opens, and only with its own R.
      const winner = answers.findIndex((a) => a.status === 200);
      const reply = openReply(ok[0]!.data.envelope, sealed[winner]!.r);
      expect(reply.productId).to.equal('travel-insurance');
      // The losers presented a used AT: by the replay rule the one VT is revoked as well
      // (RFC 6749 4.1.2), so a racing thief gains nothing.
      const product = await http.get(`${env.system.urls.gateway}/v1/products/travel-insurance`, { headers: { authorization: `Bearer ${reply.vt}` } });
      expect(product.status).to.equal(401);
      expect(product.data.code).to.equal('vt_invalid');
    });

    it('a replay after use is refused and revokes the VT it produced', async function () {
      const [first, second] = await newEnvelopes(2);
      const ex = await exchange(env.system.urls.gateway, first!.envelope);
      expect(ex.status).to.equal(200);
      const { vt } = openReply(ex.data.envelope, first!.r);
      const auth = { headers: { authorization: `Bearer ${vt}` } };
      expect((await http.get(`${env.system.urls.gateway}/v1/products/travel-insurance`, auth)).status).to.equal(200);

      const replay = await exchange(env.system.urls.gateway, second!.envelope);
      expect(replay.status).to.equal(401);
      expect(replay.data.code).to.equal('at_invalid');

      const after = await http.get(`${env.system.urls.gateway}/v1/products/travel-insurance`, auth);
      expect(after.status).to.equal(401);
      expect(after.data.code).to.equal('vt_invalid');
    });

    it('the same envelope sent twice (the page\'s retry, same R) gets the same VT again under a new IV, and revokes nothing', async function () {
      const [only] = await newEnvelopes(1);
      const first = await exchange(env.system.urls.gateway, only!.envelope);
      expect(first.status).to.equal(200);
      const again = await exchange(env.system.urls.gateway, only!.envelope);
      expect(again.status, JSON.stringify(again.data)).to.equal(200);
      expect(again.data.envelope.split('.')[2], 'a new IV').to.not.equal(first.data.envelope.split('.')[2]);
      const [a, b] = [openReply(first.data.envelope, only!.r), openReply(again.data.envelope, only!.r)];
      const claims = (vt: string) => JSON.parse(Buffer.from(vt.split('.')[1]!, 'base64url').toString('utf8'));
      expect(claims(b.vt)).to.deep.equal(claims(a.vt));
      expect({ ...b, vt: '' }).to.deep.equal({ ...a, vt: '' });
      for (const vt of [a.vt, b.vt]) {
        expect((await http.get(`${env.system.urls.gateway}/v1/products/travel-insurance`, { headers: { authorization: `Bearer ${vt}` } })).status).to.equal(200);
      }
    });

    it('an unknown AT is at_invalid, the same answer as a used one', async function () {
      const jwk = await fetchEncJwk(env.system.urls.gateway);
      const res = await exchange(env.system.urls.gateway, sealEnvelope(jwk, 'B'.repeat(43)).envelope);
      expect(res.status).to.equal(401);
      expect(res.data.code).to.equal('at_invalid');
    });

    it('an envelope that cannot be opened is envelope_invalid', async function () {
      const res = await exchange(env.system.urls.gateway, 'a.b.c.d.e');
      expect(res.status).to.equal(400);
      expect(res.data.code).to.equal('envelope_invalid');
    });
  });
}

describe('AT lifetime', function () {
  it('an expired AT is at_invalid', async function () {
    this.timeout(20_000);
    const store = new MemoryStore();
    const system = await startTestSystem({ store, env: { AT_TTL_SECONDS: '10' } });
    try {
      const token = await demoClient(system.urls.gateway).requestAccessToken({ userId: 'alice', productId: 'city-pass' });
      expect(token.exp - Math.floor(Date.now() / 1000)).to.be.within(9, 10);
      const jwk = await fetchEncJwk(system.urls.gateway);
      await new Promise((r) => setTimeout(r, 10_500));
      const res = await exchange(system.urls.gateway, sealEnvelope(jwk, token.at).envelope);
      expect(res.status).to.equal(401);
      expect(res.data.code).to.equal('at_invalid');
    } finally {
      await system.close(0);
      await store.close();
    }
  });
});

describe('envelope size limits', function () {
  it('the gateway refuses an oversized envelope itself, with envelope_invalid, and a larger body with 413', async function () {
    const store = new MemoryStore();
    const system = await startTestSystem({ store });
    try {
      const long = await exchange(system.urls.gateway, 'a'.repeat(8193));
      expect(long.status).to.equal(400);
      expect(long.data.code).to.equal('envelope_invalid');
      const huge = await exchange(system.urls.gateway, 'a'.repeat(9000));
      expect(huge.status).to.equal(413);
      expect(huge.data.code).to.equal('payload_too_large');
    } finally {
      await system.close(0);
      await store.close();
    }
  });
});
