import { expect } from 'chai';
import { MemoryStore } from '../common/store/index.ts';
import { fullFlow, exchange, fetchEncJwk, sealEnvelope, http } from './support/clients.ts';
import { DEMO_APP, LogCapture, startTestSystem, testKey } from './support/system.ts';

describe('logs', function () {
  it('a full flow, a replay and an outage leave audit lines and no token, secret, key or envelope', async function () {
    const capture = new LogCapture('debug');
    const store = new MemoryStore();
    const internalToken = 'internal-token-for-the-log-test-0123456789';
    const system = await startTestSystem({ store, log: capture.logger, env: { INTERNAL_TOKEN: internalToken } });
    const secrets: string[] = [internalToken];
    try {
      const { token, reply } = await fullFlow(system.urls.gateway, 'alice', 'city-pass');
      const jwk = await fetchEncJwk(system.urls.gateway);
      const sealed = sealEnvelope(jwk, token.at);
      const replay = await exchange(system.urls.gateway, sealed.envelope);
      expect(replay.data.code).to.equal('at_invalid');
      secrets.push(token.at, reply.vt, sealed.envelope, sealed.r.toString('base64url'), DEMO_APP.appSecret, DEMO_APP.encKey);
      const rsa = testKey('RSA-OAEP-256').privateKey.export({ format: 'jwk' }) as { d: string; p: string };
      const ec = testKey('ECDH-ES+A256KW').privateKey.export({ format: 'jwk' }) as { d: string };
      secrets.push(rsa.d, rsa.p, ec.d);

      // A failing upstream is logged with its cause: the cause must not carry the credential.
      const second = await fullFlow(system.urls.gateway, 'bob', 'city-pass', 'ECDH-ES+A256KW');
      secrets.push(second.token.at, second.reply.vt);
      system.servers.products!.close();
      system.servers.products!.closeAllConnections();
      const product = await http.get(`${system.urls.gateway}/v1/products/city-pass`, { headers: { authorization: `Bearer ${second.reply.vt}` } });
      expect(product.status).to.equal(503);
      expect(product.data.code).to.equal('upstream_unavailable');
    } finally {
      await system.close(0);
      await store.close();
    }
    const all = capture.raw.join('\n');
    for (const s of secrets) expect(all.includes(s), 'a secret reached the log').to.equal(false);
    expect(all).not.to.match(/x-broker-internal"\s*:\s*"[^[]/i);
    const events = capture.lines.map((l) => l.audit).filter(Boolean);
    expect(events).to.include.members(['at.issued', 'vt.issued', 'at.replayed', 'vt.revoked']);
    // One line per request, each with a request id.
    const requests = capture.lines.filter((l) => l.msg === 'request');
    expect(requests.length).to.be.greaterThan(5);
    for (const r of requests) expect(r.reqId).to.be.a('string');
  });
});
