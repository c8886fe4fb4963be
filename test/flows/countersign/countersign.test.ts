/**
 * The countersign flow end to end over the gateway (real Redis): application, server-signed TBS
 * object, countersignature, relay decision, single-use grant, redemption by the product backend;
 * and every refusal of the list, each with its stable code and nothing approved.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Problem } from '../../../platform/http/problem.ts';
import { createCountersignService } from '../../../flows/countersign/service.ts';
import { expect } from 'chai';
import { connectTestRedis } from '../../support/env.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import { LogCapture, useTestSystem } from '../../support/system.ts';
import { http } from '../../support/clients.ts';
import { BrokerRefusal } from '../../../flows/countersign/relay.ts';
import { DeviceRefusal, generateDeviceKey } from '../../../flows/countersign/device.ts';
import { es256Sign } from '../../../flows/countersign/jws.ts';
import { verifyReceipt } from '../../../flows/countersign/receipt.ts';
import { COUNTERSIGNATURE_TYP, LEVEL_ACR, TBS_TYP, type Receipt } from '../../../protocol/countersign.ts';
import { authorize, confirmPayment, newUser, PAYMENT, redeem, registerKey, setPassword, type TestUser } from './support.ts';

/** What a refused call answered: its status and stable code. */
async function refusal(p: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BrokerRefusal) return { status: err.status, code: err.code };
    throw err;
  }
  throw new Error('the call was not refused');
}

/** Applies through the relay; the application and the broker's answer. */
async function apply(user: TestUser, params = PAYMENT, level: 1 | 2 = 1) {
  const device = user.device();
  const application = device.application('payment.confirm', params, level);
  const applied = await user.relay().call('apply', { application });
  return { device, application, aid: applied.auth_req_id as string, tbs: applied.tbs as string, applied };
}

/** Nothing of the application was approved: the poll says denied (or it is gone), and no decision yields a grant. */
async function expectNothingApproved(user: TestUser, aid: string, tbs: string, cs = 'x.y.z') {
  const relay = user.relay();
  const polled = await refusal(relay.call('poll', { auth_req_id: aid })).catch(() => ({ status: 200, code: 'none' }));
  expect(['access_denied', 'countersign_expired', 'authorization_pending']).to.include(polled.code);
  const decided = await refusal(relay.call('decide', { auth_req_id: aid, decision: relay.decision(aid, tbs, cs, 'approve') }));
  expect(['countersign_expired', 'countersign_replayed']).to.include(decided.code);
}

describe('countersign: the flow over the gateway (Redis)', function () {
  this.timeout(60_000);
  const s = useTestSystem((ctx) => connectTestRedis(ctx), { env: { COUNTERSIGN_APPLICATIONS_PER_WINDOW: '8' } });
  const gw = () => s.system.urls.gateway;

  it('confirms a payment: approved, a grant whose receipt anyone can verify, redeemed once by the product backend', async function () {
    const user = await newUser(gw());
    const shown: unknown[] = [];
    const device = user.device({ confirm: (what) => (shown.push(what), true) });
    const application = device.application('payment.confirm', PAYMENT);
    const { relayed, seen } = await authorize(device, user.relay(), application);
    expect(relayed.status).to.equal('approved');
    expect(seen.status).to.equal('approved');
    // The device showed amount and payee before it signed.
    expect(shown).to.deep.equal([{ operation: 'payment.confirm', amount: '42.50', currency: 'EUR', payee: 'Lisbon Transit SA', level: 1 }]);
    const claims = await verifyReceipt(relayed.grant as string, relayed.receipt as Receipt, (kid) => user.pinned.get(kid));
    expect(claims).to.include({ acr: LEVEL_ACR[1], sub: user.userId, app: 'demo-app', amount: '42.50', payee: 'Lisbon Transit SA', serial: application.serial });

    const paid = await confirmPayment(gw(), user.vt, { ...PAYMENT, grant: relayed.grant });
    expect(paid.status, JSON.stringify(paid.data)).to.equal(200);
    expect(paid.data).to.include({ status: 'confirmed', amount: '42.50', payee: 'Lisbon Transit SA', acr: LEVEL_ACR[1] });
    const again = await confirmPayment(gw(), user.vt, { ...PAYMENT, grant: relayed.grant });
    expect(again.status).to.equal(409);
    expect(again.data.code).to.equal('countersign_replayed');
  });

  it('key registration needs a live VT; a key registered to one user cannot be registered by another', async function () {
    const alice = await newUser(gw());
    const bob = await newUser(gw());
    const none = await http.post(`${gw()}/v1/countersign/keys`, { kind: 'device', jwk: generateDeviceKey().jwk });
    expect(none.status).to.equal(401);
    expect(none.data.code).to.equal('vt_invalid');
    const stolen = await registerKey(gw(), bob.vt, 'device', alice.deviceKey);
    expect(stolen.status).to.equal(403);
    expect(stolen.data.code).to.equal('device_key_invalid');
    const priv = await http.post(`${gw()}/v1/countersign/keys`, { kind: 'device', jwk: { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) } }, { headers: { authorization: `Bearer ${alice.vt}` } });
    expect(priv.status).to.equal(400);
  });

  it('a wrong key: a countersignature by another key under the registered kid is refused (countersign_invalid), nothing approved', async function () {
    const user = await newUser(gw());
    const { aid, tbs } = await apply(user);
    const cs = es256Sign({ typ: COUNTERSIGNATURE_TYP, kid: user.deviceKey.kid }, Buffer.from(tbs, 'latin1'), generateDeviceKey().privateKey);
    expect(await refusal(user.relay().call('countersign', { auth_req_id: aid, countersignature: cs }))).to.deep.equal({ status: 400, code: 'countersign_invalid' });
    await expectNothingApproved(user, aid, tbs, cs);
  });

  it('a key of another user is refused (device_key_invalid), at application and at countersignature', async function () {
    const alice = await newUser(gw());
    const bob = await newUser(gw());
    const application = { ...alice.device().application('payment.confirm', PAYMENT), kid: bob.deviceKey.kid };
    expect(await refusal(alice.relay().call('apply', { application }))).to.deep.equal({ status: 403, code: 'device_key_invalid' });
    const { aid, tbs } = await apply(alice);
    const cs = es256Sign({ typ: COUNTERSIGNATURE_TYP, kid: bob.deviceKey.kid }, Buffer.from(tbs, 'latin1'), bob.deviceKey.privateKey);
    expect(await refusal(alice.relay().call('countersign', { auth_req_id: aid, countersignature: cs }))).to.deep.equal({ status: 403, code: 'device_key_invalid' });
    await expectNothingApproved(alice, aid, tbs, cs);
  });

  it('a revoked key is refused at application, and a grant whose device key was revoked since is refused at redemption', async function () {
    const user = await newUser(gw());
    const { relayed } = await authorize(user.device(), user.relay(), user.device().application('payment.confirm', PAYMENT));
    expect(relayed.status).to.equal('approved');
    const revoked = await http.post(`${gw()}/v1/countersign/keys/revoke`, { kid: user.deviceKey.kid }, { headers: { authorization: `Bearer ${user.vt}` } });
    expect(revoked.status).to.equal(200);
    const late = await redeem(gw(), relayed.grant);
    expect(late.status).to.equal(403);
    expect(late.data.code).to.equal('device_key_invalid');
    expect(await refusal(user.relay().call('apply', { application: user.device().application('payment.confirm', PAYMENT) }))).to.deep.equal({ status: 403, code: 'device_key_invalid' });
    // Registering the revoked key again does not bring it back.
    const again = await registerKey(gw(), user.vt, 'device', user.deviceKey);
    expect(again.data.code).to.equal('device_key_invalid');
  });

  it('a replayed countersignature is refused (countersign_replayed), also for another application (countersign_invalid)', async function () {
    const user = await newUser(gw());
    const { device, application, aid, tbs } = await apply(user);
    const { countersignature } = await device.countersign(application, tbs);
    await user.relay().call('countersign', { auth_req_id: aid, countersignature });
    expect(await refusal(user.relay().call('countersign', { auth_req_id: aid, countersignature }))).to.deep.equal({ status: 409, code: 'countersign_replayed' });
    const second = await apply(user);
    expect(await refusal(user.relay().call('countersign', { auth_req_id: second.aid, countersignature }))).to.deep.equal({ status: 400, code: 'countersign_invalid' });
    await expectNothingApproved(user, second.aid, second.tbs, countersignature);
  });

  it('an amount or payee changed after signing is refused: by the device, by the server (tbs_invalid), and at redemption (params_mismatch)', async function () {
    const user = await newUser(gw());
    const { device, application, aid, tbs } = await apply(user);
    const [h, p, sig] = tbs.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    const changed = `${h}.${Buffer.from(JSON.stringify({ ...claims, payee: 'Mallory Ltd', amount: '4250.00' })).toString('base64url')}.${sig}`;
    // The device refuses an object whose signature no longer holds.
    let refused: unknown;
    await device.countersign(application, changed).catch((e) => (refused = e));
    expect(refused).to.be.instanceOf(DeviceRefusal);
    // A device made to sign the changed bytes anyway: the server refuses them.
    const cs = es256Sign({ typ: COUNTERSIGNATURE_TYP, kid: user.deviceKey.kid }, Buffer.from(changed, 'latin1'), user.deviceKey.privateKey);
    expect(await refusal(user.relay().call('countersign', { auth_req_id: aid, countersignature: cs }))).to.deep.equal({ status: 400, code: 'tbs_invalid' });
    await expectNothingApproved(user, aid, tbs, cs);
    // A grant for 42.50 to Lisbon Transit SA cannot pay anything else, and stays unspent by the attempt.
    const { relayed } = await authorize(user.device(), user.relay(), user.device().application('payment.confirm', PAYMENT));
    for (const params of [{ ...PAYMENT, amount: '4250.00' }, { ...PAYMENT, payee: 'Mallory Ltd' }]) {
      const res = await confirmPayment(gw(), user.vt, { ...params, grant: relayed.grant });
      expect(res.status).to.equal(409);
      expect(res.data.code).to.equal('params_mismatch');
    }
    // Another user's VT cannot spend it either.
    const other = await newUser(gw());
    const stolen = await confirmPayment(gw(), other.vt, { ...PAYMENT, grant: relayed.grant });
    expect([stolen.status, stolen.data.code]).to.deep.equal([403, 'grant_invalid']);
    expect((await confirmPayment(gw(), user.vt, { ...PAYMENT, grant: relayed.grant })).status).to.equal(200);
  });

  it('an object signed by another server key is refused by the device, and by the server (tbs_invalid); a forged grant too (grant_invalid)', async function () {
    const user = await newUser(gw());
    const { device, application, aid, tbs } = await apply(user);
    const forger = generateDeviceKey();
    const claims = JSON.parse(Buffer.from(tbs.split('.')[1]!, 'base64url').toString('utf8'));
    const kid = JSON.parse(Buffer.from(tbs.split('.')[0]!, 'base64url').toString('utf8')).kid as string;
    for (const headerKid of [kid, forger.kid]) {
      const forged = es256Sign({ typ: TBS_TYP, kid: headerKid }, claims, forger.privateKey);
      let refused: unknown;
      await device.countersign(application, forged).catch((e) => (refused = e));
      expect(refused).to.be.instanceOf(DeviceRefusal);
    }
    const forged = es256Sign({ typ: TBS_TYP, kid }, claims, forger.privateKey);
    const cs = es256Sign({ typ: COUNTERSIGNATURE_TYP, kid: user.deviceKey.kid }, Buffer.from(forged, 'latin1'), user.deviceKey.privateKey);
    expect(await refusal(user.relay().call('countersign', { auth_req_id: aid, countersignature: cs }))).to.deep.equal({ status: 400, code: 'tbs_invalid' });
    await expectNothingApproved(user, aid, tbs, cs);
    const { relayed } = await authorize(user.device(), user.relay(), user.device().application('payment.confirm', PAYMENT));
    const g = JSON.parse(Buffer.from((relayed.grant as string).split('.')[1]!, 'base64url').toString('utf8'));
    const forgedGrant = es256Sign({ typ: 'countersign-grant+jwt', kid }, g, forger.privateKey);
    const res = await redeem(gw(), forgedGrant);
    expect(res.status).to.equal(403);
    expect(res.data.code).to.equal('grant_invalid');
  });

  it('a login-typed signature offered for a payment is refused: a VT as the object (tbs_invalid), another typ as the countersignature (countersign_invalid)', async function () {
    const user = await newUser(gw());
    const { aid, tbs } = await apply(user);
    const asVt = es256Sign({ typ: COUNTERSIGNATURE_TYP, kid: user.deviceKey.kid }, Buffer.from(user.vt, 'latin1'), user.deviceKey.privateKey);
    expect(await refusal(user.relay().call('countersign', { auth_req_id: aid, countersignature: asVt }))).to.deep.equal({ status: 400, code: 'tbs_invalid' });
    await expectNothingApproved(user, aid, tbs, asVt);
    const next = await apply(user);
    for (const typ of ['login+jwt', 'vt+jwt', 'JWT']) {
      const login = es256Sign({ typ, kid: user.deviceKey.kid }, Buffer.from(next.tbs, 'latin1'), user.deviceKey.privateKey);
      const r = await refusal(user.relay().call('countersign', { auth_req_id: next.aid, countersignature: login }));
      expect(r.code).to.be.oneOf(['countersign_invalid', 'countersign_replayed']);
    }
    await expectNothingApproved(user, next.aid, next.tbs);
    // The grant is not a TBS object either, nor the TBS object a grant.
    const res = await redeem(gw(), next.tbs);
    expect(res.data.code).to.equal('grant_invalid');
  });

  it('the same serial number twice is refused (countersign_replayed); a relay request sent twice is refused (relay_invalid)', async function () {
    const user = await newUser(gw());
    const { application } = await apply(user);
    expect(await refusal(user.relay().call('apply', { application }))).to.deep.equal({ status: 409, code: 'countersign_replayed' });
    const request = es256Sign({ typ: 'countersign-relay+jwt', kid: user.relayKey.kid }, { htm: 'POST', htu: '/v1/countersign/poll', iat: Math.floor(Date.now() / 1000), jti: 'A'.repeat(22), body: { auth_req_id: 'B'.repeat(22) } }, user.relayKey.privateKey);
    const first = await http.post(`${gw()}/v1/countersign/poll`, { request });
    expect(first.data.code).to.not.equal('relay_invalid');
    const second = await http.post(`${gw()}/v1/countersign/poll`, { request });
    expect(second.status).to.equal(401);
    expect(second.data.code).to.equal('relay_invalid');
    // A device key cannot act as a relay.
    const asDevice = user.relay({ key: user.deviceKey });
    expect(await refusal(asDevice.call('apply', { application: user.device().application('payment.confirm', PAYMENT) }))).to.deep.equal({ status: 401, code: 'relay_invalid' });
  });

  it('polls as CIBA does: authorization_pending, then slow_down when polled faster than the interval', async function () {
    const user = await newUser(gw());
    const { aid, applied } = await apply(user);
    expect(applied.expires_in).to.equal(300);
    expect(applied.interval).to.equal(2);
    expect(await refusal(user.relay().call('poll', { auth_req_id: aid }))).to.deep.equal({ status: 400, code: 'authorization_pending' });
    expect(await refusal(user.relay().call('poll', { auth_req_id: aid }))).to.deep.equal({ status: 400, code: 'slow_down' });
  });

  it('the relay refuses: no grant', async function () {
    const user = await newUser(gw());
    const { relayed, seen } = await authorize(user.device(), user.relay({ decide: () => false }), user.device().application('payment.confirm', PAYMENT));
    expect(relayed.status).to.equal('refused');
    expect(seen.status).to.equal('refused');
    expect(relayed.grant).to.equal(undefined);
  });

  it('applications are rate-limited per user, whichever relay asks (no push-bombing)', async function () {
    const user = await newUser(gw());
    const other = generateDeviceKey();
    expect((await registerKey(gw(), user.vt, 'relay', other)).status).to.equal(201);
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const relay = user.relay(i % 2 ? { key: other } : {});
      codes.push(await relay.call('apply', { application: user.device().application('payment.confirm', PAYMENT) }).then(() => 'ok', (e: BrokerRefusal) => e.code));
    }
    expect(codes.filter((c) => c === 'ok')).to.have.length(8);
    expect(codes.slice(8)).to.deep.equal(['rate_limited', 'rate_limited']);
  });

  describe('level 2: the offline authorization password', function () {
    it('without the password: level_not_met; with a wrong one: authorization_failed; nothing approved', async function () {
      const user = await newUser(gw());
      expect((await setPassword(gw(), user, 'correct horse')).status).to.equal(201);
      const a = await apply(user, PAYMENT, 2);
      const { countersignature } = await a.device.countersign(a.application, a.tbs);
      expect(await refusal(user.relay().call('countersign', { auth_req_id: a.aid, countersignature }))).to.deep.equal({ status: 403, code: 'level_not_met' });
      await expectNothingApproved(user, a.aid, a.tbs, countersignature);
      const wrong = user.device({ password: { value: 'battery staple', key: user.passwordKey } });
      const { relayed } = await authorize(wrong, user.relay(), wrong.application('payment.confirm', PAYMENT, 2));
      expect(relayed).to.deep.include({ status: 'refused', code: 'authorization_failed' });
    });

    it('with the right password: approved at acr level 2; a level-2 grant pays what needs level 2', async function () {
      const user = await newUser(gw());
      expect((await setPassword(gw(), user, 'correct horse')).status).to.equal(201);
      const device = user.device({ password: { value: 'correct horse', key: user.passwordKey } });
      const big = { ...PAYMENT, amount: '1500.00' };
      const { relayed } = await authorize(device, user.relay(), device.application('payment.confirm', big, 2));
      expect(relayed.status).to.equal('approved');
      const paid = await confirmPayment(gw(), user.vt, { ...big, grant: relayed.grant });
      expect(paid.status, JSON.stringify(paid.data)).to.equal(200);
      expect(paid.data.acr).to.equal(LEVEL_ACR[2]);
      // A level-1 grant cannot pay an amount that needs level 2.
      const { relayed: one } = await authorize(user.device(), user.relay(), user.device().application('payment.confirm', big, 1));
      const low = await confirmPayment(gw(), user.vt, { ...big, grant: one.grant });
      expect(low.status).to.equal(403);
      expect(low.data.code).to.equal('level_not_met');
    });

    it('the sixth attempt after five failures is refused even with the right password (authorization_failed: locked)', async function () {
      this.timeout(120_000);
      const user = await newUser(gw());
      expect((await setPassword(gw(), user, 'correct horse')).status).to.equal(201);
      const wrong = user.device({ password: { value: 'wrong guess', key: user.passwordKey } });
      for (let i = 0; i < 5; i++) {
        const { relayed } = await authorize(wrong, user.relay(), wrong.application('payment.confirm', PAYMENT, 2));
        expect(relayed).to.deep.include({ status: 'refused', code: 'authorization_failed' });
      }
      const right = user.device({ password: { value: 'correct horse', key: user.passwordKey } });
      const { relayed } = await authorize(right, user.relay(), right.application('payment.confirm', PAYMENT, 2));
      expect(relayed).to.deep.include({ status: 'refused', code: 'authorization_failed' });
      // The store keeps only an scrypt hash with its own salt, never the password.
      const stored = await s.store.get(`cs-pw:demo-app:${user.userId}`);
      expect(stored).to.not.include('correct horse');
      expect(JSON.parse(stored!)).to.include({ alg: 'scrypt', failures: 5 });
    });
  });

  it('an expired object is refused by the device and by the server (countersign_expired), nothing approved', async function () {
    const user = await newUser(gw());
    const { device, application, aid, tbs } = await apply(user);
    // Six minutes later (the lifetime is five): the device's clock, the relay's and the server's.
    const later = () => Math.floor(Date.now() / 1000) + 360;
    let refused: unknown;
    await user.device({ now: later }).countersign(application, tbs).catch((e) => (refused = e));
    expect(refused).to.be.instanceOf(DeviceRefusal);
    const { countersignature } = await device.countersign(application, tbs);
    const sys = s.system;
    const service = createCountersignService({
      config: { atTtlSeconds: 60, vtTtlSeconds: 1800, internalToken: 'x'.repeat(32), nodeEnv: 'test', issuer: sys.urls.gateway },
      store: s.store, registry: sys.registry, keys: sys.keys, signingKeys: sys.signingKeys.auth!, log: pino({ level: 'silent' }),
    }, { now: later });
    const relay = user.relay({ now: later });
    const request = (htu: string, body: Record<string, unknown>) => ({
      request: es256Sign({ typ: 'countersign-relay+jwt', kid: user.relayKey.kid }, { htm: 'POST', htu, iat: later(), jti: randomBytes(16).toString('base64url'), body }, user.relayKey.privateKey),
    });
    const codeOf = (p: Promise<unknown>) => p.then(() => 'accepted', (e: Problem) => e.code);
    expect(await codeOf(service.countersign({ body: request('/v1/countersign/countersignatures', { auth_req_id: aid, countersignature }) }))).to.equal('countersign_expired');
    expect(await codeOf(service.decide({ body: request('/v1/countersign/decisions', { auth_req_id: aid, decision: relay.decision(aid, tbs, countersignature, 'approve') }) }))).to.equal('countersign_expired');
  });

  it('200 parallel redemptions of one grant: exactly one succeeds, the others are countersign_replayed', async function () {
    const user = await newUser(gw());
    const { relayed } = await authorize(user.device(), user.relay(), user.device().application('payment.confirm', PAYMENT));
    const answers = await Promise.all(Array.from({ length: 200 }, () => redeem(gw(), relayed.grant)));
    const ok = answers.filter((a) => a.status === 200);
    expect(ok).to.have.length(1);
    expect(ok[0]!.data).to.include({ status: 'redeemed', sub: user.userId, amount: '42.50' });
    expect(new Set(answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.data.code}`))).to.deep.equal(new Set(['409 countersign_replayed']));
  });
});

describe('countersign: gateway and auth over HTTP (the seam\'s client)', function () {
  this.timeout(60_000);
  const logs = new LogCapture();
  const s = useTestSystem(() => new MemoryStore(), { system: { authTransport: 'http' }, log: logs.logger });

  it('approves and redeems once, and auth\'s refusals reach the relay with their codes', async function () {
    const gw = s.system.urls.gateway;
    const user = await newUser(gw, 'cs-http');
    const { relayed } = await authorize(user.device(), user.relay(), user.device().application('payment.confirm', PAYMENT));
    expect(relayed.status).to.equal('approved');
    expect((await confirmPayment(gw, user.vt, { ...PAYMENT, grant: relayed.grant })).status).to.equal(200);
    const again = await redeem(gw, relayed.grant);
    expect([again.status, again.data.code]).to.deep.equal([409, 'countersign_replayed']);
    const { aid } = await apply(user);
    expect(await refusal(user.relay().call('poll', { auth_req_id: aid }))).to.deep.equal({ status: 400, code: 'authorization_pending' });
    // Audit lines for the approval and the redemption, and none holds a signed object or the grant.
    const events = logs.lines.filter((l) => typeof l.audit === 'string' && String(l.audit).startsWith('countersign.')).map((l) => l.audit);
    expect(events).to.include.members(['countersign.approved', 'countersign.redeemed']);
    const grant = relayed.grant as string;
    expect(logs.raw.some((line) => line.includes(grant.split('.')[2]!) || line.includes((relayed.receipt as Receipt).tbs.split('.')[2]!))).to.equal(false);
  });
});
