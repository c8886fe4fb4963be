import { expect } from 'chai';
import { MemoryStore } from '../../platform/store/index.ts';
import { demoClient, fullFlow, exchange, fetchEncJwk, sealEnvelope, http } from '../support/clients.ts';
import { DEMO_APP, LogCapture, startTestSystem, testKey } from '../support/system.ts';

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

describe('audit lines', function () {
  it('issuance, exchange, replay, revocation and a rejected signature each leave an audit line with the app, the reason and the request id the client saw', async function () {
    const capture = new LogCapture('info');
    const store = new MemoryStore();
    const system = await startTestSystem({ store, log: capture.logger });
    const gw = system.urls.gateway;
    try {
      const { token, reply } = await fullFlow(gw, 'alice', 'city-pass');
      const reqId = 'audit-replay-0001';
      const replay = await http.post(`${gw}/v1/visit-tokens`, { envelope: sealEnvelope(await fetchEncJwk(gw), token.at).envelope }, { headers: { 'x-request-id': reqId } });
      expect(replay.status).to.equal(401);
      expect(replay.headers['x-request-id'], 'the request id is echoed').to.equal(reqId);

      const second = await fullFlow(gw, 'bob', 'city-pass');
      const basic = `Basic ${Buffer.from(`${DEMO_APP.appId}:${DEMO_APP.appSecret}`).toString('base64')}`;
      const revoked = await http.post(`${gw}/v1/revoke`, `token=${second.reply.vt}`, { headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' } });
      expect(revoked.status).to.equal(200);

      const forged = await demoClient(gw, { ...DEMO_APP, appSecret: 'wrong-secret-0123456789abcdefghijklmnopqrstuvw' })
        .requestAccessToken({ userId: 'carol', productId: 'city-pass' }).catch((e: unknown) => e);
      expect(forged).to.be.instanceOf(Error);
      // An unknown app is answered as a wrong signature; only the audit line says why.
      const stranger = await demoClient(gw, { ...DEMO_APP, appId: 'no-such-app' })
        .requestAccessToken({ userId: 'carol', productId: 'city-pass' }).catch((e: unknown) => e);
      expect(stranger).to.be.instanceOf(Error);
      const secrets = [token.at, reply.vt, second.token.at, second.reply.vt];
      const all = capture.raw.join('\n');
      for (const s of secrets) expect(all.includes(s), 'a token reached the log').to.equal(false);
    } finally {
      await system.close(0);
      await store.close();
    }
    const audits = capture.lines.filter((l) => l.audit);
    const find = (event: string, extra: Record<string, unknown> = {}) =>
      audits.find((l) => l.audit === event && Object.entries(extra).every(([k, v]) => l[k] === v));
    expect(find('at.issued', { appId: DEMO_APP.appId, userId: 'alice', productId: 'city-pass' }), 'at.issued').to.not.equal(undefined);
    expect(find('vt.issued', { appId: DEMO_APP.appId, userId: 'alice' }), 'vt.issued').to.not.equal(undefined);
    expect(find('at.replayed', { reqId: 'audit-replay-0001' }), 'at.replayed under the client\'s request id').to.not.equal(undefined);
    expect(find('vt.revoked', { reason: 'at_replayed', reqId: 'audit-replay-0001' }), 'vt.revoked by the replay').to.not.equal(undefined);
    expect(audits.filter((l) => l.audit === 'vt.revoked' && l.reason !== 'at_replayed'), 'vt.revoked by /v1/revoke').to.have.length.greaterThan(0);
    expect(find('signature.rejected', { appId: DEMO_APP.appId, reason: 'mismatch' }), 'signature.rejected with its reason').to.not.equal(undefined);
    expect(find('signature.rejected', { appId: 'no-such-app', reason: 'unknown_app' }), 'an unknown app\'s reason stays in the audit line').to.not.equal(undefined);
    for (const l of audits) expect(l.reqId, `${l.audit} has a request id`).to.be.a('string');
  });
});
