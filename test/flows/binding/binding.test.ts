/**
 * The binding flow end to end over HTTP (the browser test is test/h5/binding-browser.test.ts):
 * the stream, the phone's request (the CLI's code), the page's confirmation, the hostile cases,
 * polling, expiry, the two-gateway push, 200 parallel confirmations, shutdown with a held stream.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { MemoryStore } from '../../../platform/store/memory.ts';
import type { RedisStore } from '../../../platform/store/redis.ts';
import { verifyCompact } from '../../../platform/crypto/jws.ts';
import { createPublicKey } from 'node:crypto';
import { fullFlow, http } from '../../support/clients.ts';
import { connectTestRedis } from '../../support/env.ts';
import { startTestSystem, useTestSystem } from '../../support/system.ts';
import type { RunningSystem } from '../../../system/start.ts';
import { currentCode, phoneHash, sendScan } from '../../../scripts/token-app.ts';
import { bearer, confirm, createBinding, openStream, pageProof, visitToken } from './support.ts';
import { base32, totp } from '../../../flows/binding/totp.ts';
import { accountId } from '../../../flows/binding/records.ts';
import { RECEIPT_TYP, SCAN_LIMIT } from '../../../flows/binding/public.ts';

const now = () => Math.floor(Date.now() / 1000);
const user = () => `user-${randomBytes(4).toString('hex')}`;

async function receiptKey(gateway: string) {
  const res = await http.get(`${gateway}/v1/binding-keys`);
  return createPublicKey({ key: res.data.keys[0], format: 'jwk' });
}

/** Polls once (a fresh poll window: waits out the interval first when asked). */
async function poll(gateway: string, vt: string, bid: string) {
  return http.get(`${gateway}/v1/bindings/${bid}`, bearer(vt));
}

async function secondFactor(gateway: string, vt: string, code: string) {
  return http.post(`${gateway}/v1/second-factor`, { code, action: 'show-card' }, bearer(vt));
}

describe('binding: QR link, phone request, live push, bound key', function () {
  this.timeout(30_000);
  const INTERNAL = `internal-${randomBytes(16).toString('hex')}`;
  const s = useTestSystem(() => new MemoryStore(), { env: { INTERNAL_TOKEN: INTERNAL } });
  const gw = () => s.system.urls.gateway;

  it('the page waits on a stream, the phone (CLI) answers, the page confirms: bound, with a signed receipt', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    expect(b.payload.link).to.match(/^[A-Za-z0-9_-]{24}$/);
    expect(Buffer.from(b.payload.key, 'base64url')).to.have.length(20);
    expect(b.otpauthUri).to.match(/^otpauth:\/\/totp\/.+secret=[A-Z2-7]{32}&/);
    const stream = await openStream(gw(), b.bindingId, b.streamTicket);
    expect(stream.status).to.equal(200);
    expect(stream.headers.get('content-type')).to.match(/^text\/event-stream/);
    expect(stream.headers.get('x-accel-buffering')).to.equal('no');
    await stream.next('waiting');
    // The ticket was single use: a second stream with it is refused.
    const again = await openStream(gw(), b.bindingId, b.streamTicket);
    expect(again.status).to.equal(403);

    const ts = now();
    const scan = await sendScan(b.payload, { ts });
    expect(scan.status, JSON.stringify(scan.body)).to.equal(202);
    const scanned = await stream.next('scanned');
    // The page's own check: the relayed hash is the one the first key gives.
    expect(scanned.data).to.deep.equal({ ts, hash: phoneHash(b.payload, ts) });
    const res = await confirm(gw(), vt, b.bindingId, pageProof(b.payload, b.bindingId, String(scanned.data.hash)));
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    const bound = await stream.next('bound');
    expect(bound.data.receipt).to.equal(res.data.receipt);
    await stream.ended;
    const { payload } = await verifyCompact(res.data.receipt, { typ: RECEIPT_TYP, keyFor: async () => receiptKey(gw()) });
    expect(payload).to.include({ bid: b.bindingId, app: 'demo-app' });

    // The bound key is now the second factor.
    expect((await secondFactor(gw(), vt, currentCode(b.payload))).status).to.equal(200);
  });

  it('Last-Event-ID resumes a stream: only the events after it come', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    expect((await sendScan(b.payload)).status).to.equal(202);
    const t = await http.post(`${gw()}/v1/bindings/${b.bindingId}/tickets`, {}, bearer(vt));
    expect(t.status).to.equal(201);
    const stream = await openStream(gw(), b.bindingId, t.data.streamTicket, '1');
    const scanned = await stream.next('scanned');
    expect(scanned.id).to.equal('2');
    expect(stream.events.map((e) => e.event)).to.not.include('waiting');
    stream.close();
  });

  it('refuses a wrong hash, a spliced field, a link of another account, a stale or future timestamp, a reused link: the account stays unbound', async function () {
    const vtA = await visitToken(gw(), user());
    const vtB = await visitToken(gw(), user());
    const a = await createBinding(gw(), vtA);
    const b = await createBinding(gw(), vtB);
    const post = (body: object) => http.post(`${gw()}/v1/binding-scans`, body, { headers: { 'content-type': 'application/json', 'x-forwarded-for': '' } });
    const ts = now();
    const code = (r: { data: { code?: string } }) => r.data.code;

    // A wrong hash (another key).
    expect(code(await post({ link: a.payload.link, ts, hash: phoneHash({ ...a.payload, key: b.payload.key }, ts) }))).to.equal('binding_proof_invalid');
    // A spliced field: the timestamp's last digit moved into the link's front gives other bytes.
    const spliced = { ...a.payload, link: `${String(ts).slice(-1)}${a.payload.link.slice(0, -1)}` };
    expect(code(await post({ link: a.payload.link, ts: Math.floor(ts / 10), hash: phoneHash(spliced, Math.floor(ts / 10)) }))).to.equal('binding_proof_invalid');
    // The link of another account: A's link with B's account (and key) named in the hash.
    expect(code(await post({ link: a.payload.link, ts, hash: phoneHash({ ...b.payload, link: a.payload.link }, ts) }))).to.equal('binding_proof_invalid');
    // Stale and future timestamps, correctly hashed.
    const res1 = await post({ link: a.payload.link, ts: ts - 3600, hash: phoneHash(a.payload, ts - 3600) });
    expect(res1.status).to.equal(400);
    expect(res1.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(code(res1)).to.equal('binding_clock_skew');
    expect(code(await post({ link: a.payload.link, ts: ts + 3600, hash: phoneHash(a.payload, ts + 3600) }))).to.equal('binding_clock_skew');
    // An unknown link.
    expect(code(await post({ link: randomBytes(18).toString('base64url'), ts, hash: phoneHash(a.payload, ts) }))).to.equal('binding_link_invalid');
    // None of them moved A: still waiting, and no second factor.
    await new Promise((r) => setTimeout(r, 2100));
    const p = await poll(gw(), vtA, a.bindingId);
    expect(p.data).to.include({ code: 'authorization_pending', error: 'authorization_pending', state: 'waiting' });
    expect((await secondFactor(gw(), vtA, currentCode(a.payload))).data.code).to.equal('binding_not_found');

    // The right request, once; the same link again is refused.
    expect((await post({ link: a.payload.link, ts, hash: phoneHash(a.payload, ts) })).status).to.equal(202);
    expect(code(await post({ link: a.payload.link, ts, hash: phoneHash(a.payload, ts) }))).to.equal('binding_link_invalid');
    // B's page cannot confirm A's binding; A's page cannot confirm with a wrong proof.
    expect((await confirm(gw(), vtB, a.bindingId, pageProof(a.payload, a.bindingId, phoneHash(a.payload, ts)))).data.code).to.equal('binding_not_found');
    expect((await confirm(gw(), vtA, a.bindingId, pageProof(b.payload, a.bindingId, phoneHash(a.payload, ts)))).data.code).to.equal('binding_proof_invalid');
    expect((await secondFactor(gw(), vtA, currentCode(a.payload))).data.code).to.equal('binding_not_found');
  });

  it('polling fallback end to end, in RFC 8628 words', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    const first = await poll(gw(), vt, b.bindingId);
    expect(first.status).to.equal(400);
    expect(first.data).to.include({ error: 'authorization_pending', state: 'waiting' });
    expect((await poll(gw(), vt, b.bindingId)).data.error).to.equal('slow_down');
    expect((await sendScan(b.payload)).status).to.equal(202);
    await new Promise((r) => setTimeout(r, 2100));
    const scanned = await poll(gw(), vt, b.bindingId);
    expect(scanned.data).to.include({ error: 'authorization_pending', state: 'scanned' });
    expect(scanned.data.scan.hash).to.equal(phoneHash(b.payload, scanned.data.scan.ts));
    expect((await confirm(gw(), vt, b.bindingId, pageProof(b.payload, b.bindingId, scanned.data.scan.hash))).status).to.equal(200);
    await new Promise((r) => setTimeout(r, 2100));
    const bound = await poll(gw(), vt, b.bindingId);
    expect(bound.status).to.equal(200);
    expect(bound.data.status).to.equal('bound');
    // A refused binding polls as access_denied.
    const vt2 = await visitToken(gw(), user());
    const c = await createBinding(gw(), vt2);
    expect((await sendScan(c.payload)).status).to.equal(202);
    expect((await http.post(`${gw()}/v1/bindings/${c.bindingId}/confirm`, { refuse: true }, bearer(vt2))).data.status).to.equal('refused');
    expect((await poll(gw(), vt2, c.bindingId)).data.error).to.equal('access_denied');
  });

  it('200 parallel confirmations of one binding: bound once', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    const ts = now();
    expect((await sendScan(b.payload, { ts })).status).to.equal(202);
    const proof = pageProof(b.payload, b.bindingId, phoneHash(b.payload, ts));
    const answers = await Promise.all(Array.from({ length: 200 }, () => confirm(gw(), vt, b.bindingId, proof)));
    const ok = answers.filter((a) => a.status === 200);
    expect(ok, JSON.stringify(answers.map((a) => a.data.code))).to.have.length(1);
    expect(answers.filter((a) => a.status !== 200).every((a) => a.status === 409 || a.data.code === 'expired_token')).to.equal(true);
  });

  it('TOTP: a code once per step, brute force limited, re-bind and unbind need the current code', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    const ts = now();
    await sendScan(b.payload, { ts });
    expect((await confirm(gw(), vt, b.bindingId, pageProof(b.payload, b.bindingId, phoneHash(b.payload, ts)))).status).to.equal(200);
    const key = Buffer.from(b.payload.key, 'base64url');
    // A re-bind without a code is refused.
    expect((await http.post(`${gw()}/v1/bindings`, {}, bearer(vt))).data.code).to.equal('binding_exists');
    // The previous step's code is accepted once; then the current; reuse of either is refused.
    expect((await secondFactor(gw(), vt, totp(key, now() - 30))).status).to.equal(200);
    const code = totp(key, now());
    expect((await secondFactor(gw(), vt, code)).status).to.equal(200);
    const reused = await secondFactor(gw(), vt, code);
    expect(reused.data.code).to.equal('totp_invalid');
    const wrong = await secondFactor(gw(), vt, code === '000000' ? '111111' : '000000');
    expect(wrong.data.code).to.equal('totp_invalid');
    expect(wrong.data.detail).to.equal(reused.data.detail);
    // Brute force: the attempts run out (5 per account per minute; 4 used above).
    const burst = await Promise.all(Array.from({ length: 5 }, (_, i) => secondFactor(gw(), vt, String(100000 + i))));
    expect(burst.map((r) => r.data.code)).to.include('rate_limited');
    expect((await secondFactor(gw(), vt, totp(key, now() + 30))).data.code).to.equal('rate_limited');
  });

  it('unbind with the current code; then a fresh binding is possible without one', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    const ts = now();
    await sendScan(b.payload, { ts });
    await confirm(gw(), vt, b.bindingId, pageProof(b.payload, b.bindingId, phoneHash(b.payload, ts)));
    const key = Buffer.from(b.payload.key, 'base64url');
    expect((await http.post(`${gw()}/v1/bindings/unbind`, { code: '12345' }, bearer(vt))).data.code).to.equal('totp_invalid');
    expect((await http.post(`${gw()}/v1/bindings/unbind`, { code: totp(key, now()) }, bearer(vt))).data.status).to.equal('unbound');
    expect((await secondFactor(gw(), vt, totp(key, now() + 30))).data.code).to.equal('binding_not_found');
    await createBinding(gw(), vt);
  });

  it('an unbind interrupted between its two steps leaves an account that binds again without a code', async function () {
    const userId = user();
    const vt = await visitToken(gw(), userId);
    const acctKey = `bind:acct:${accountId('demo-app', userId)}`;
    expect(await s.store.setIfUnchanged(acctKey, null, { [acctKey]: 'unbound' })).to.equal(true);
    const b = await createBinding(gw(), vt);
    const ts = now();
    await sendScan(b.payload, { ts });
    expect((await confirm(gw(), vt, b.bindingId, pageProof(b.payload, b.bindingId, phoneHash(b.payload, ts)))).status).to.equal(200);
    expect(JSON.parse((await s.store.get(acctKey))!)).to.include({ bid: b.bindingId });
  });

  it('a re-bind with the current code replaces the key', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    let ts = now();
    await sendScan(b.payload, { ts });
    await confirm(gw(), vt, b.bindingId, pageProof(b.payload, b.bindingId, phoneHash(b.payload, ts)));
    const c = await createBinding(gw(), vt, { code: totp(Buffer.from(b.payload.key, 'base64url'), now()) });
    ts = now();
    await sendScan(c.payload, { ts });
    expect((await confirm(gw(), vt, c.bindingId, pageProof(c.payload, c.bindingId, phoneHash(c.payload, ts)))).status).to.equal(200);
    expect((await secondFactor(gw(), vt, totp(Buffer.from(b.payload.key, 'base64url'), now() + 30))).data.code).to.equal('totp_invalid');
    expect((await secondFactor(gw(), vt, totp(Buffer.from(c.payload.key, 'base64url'), now()))).status).to.equal(200);
  });

  it('a stock authenticator app binds by the typed code of the otpauth URI; that code does not pass again', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    const stream = await openStream(gw(), b.bindingId, b.streamTicket);
    await stream.next('waiting');
    const secret = new URL(b.otpauthUri.replace('otpauth:', 'http:')).searchParams.get('secret')!;
    const key = Buffer.from(b.payload.key, 'base64url');
    expect(secret).to.equal(base32(key));
    const wrong = await http.post(`${gw()}/v1/bindings/${b.bindingId}/confirm`, { code: totp(key, now() + 300) }, bearer(vt));
    expect(wrong.data.code).to.equal('totp_invalid');
    const code = totp(key, now());
    const res = await http.post(`${gw()}/v1/bindings/${b.bindingId}/confirm`, { code }, bearer(vt));
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    expect((await stream.next('bound')).data.receipt).to.equal(res.data.receipt);
    // The link is spent: a phone can no longer use it.
    expect((await sendScan(b.payload)).body.code).to.equal('binding_link_invalid');
    expect((await secondFactor(gw(), vt, code)).data.code).to.equal('totp_invalid');
  });

  it("a product's marked action needs the second factor: the gateway checks the code, the backend the assertion", async function () {
    const userId = user();
    const { reply, product } = await fullFlow(gw(), userId, 'city-pass');
    const vt = reply.vt;
    expect(product.data.secondFactorActions).to.deep.equal([{ id: 'transfer-pass', label: 'Transfer the pass to another person' }]);
    const act = (code: string) => http.post(`${gw()}/v1/products/city-pass/actions/transfer-pass`, { code }, bearer(vt));
    expect((await act('123456')).data.code).to.equal('binding_not_found');
    const b = await createBinding(gw(), vt);
    const ts = now();
    await sendScan(b.payload, { ts });
    expect((await confirm(gw(), vt, b.bindingId, pageProof(b.payload, b.bindingId, phoneHash(b.payload, ts)))).status).to.equal(200);
    const key = Buffer.from(b.payload.key, 'base64url');
    expect((await act(totp(key, now() + 600))).data.code).to.equal('totp_invalid');
    const done = await act(totp(key, now()));
    expect(done.status, JSON.stringify(done.data)).to.equal(200);
    expect(done.data).to.include({ action: 'transfer-pass', done: true });
    // The backend itself refuses the action without an assertion, or with one it did not get from the gateway's key.
    const backend = (assertion?: string) => http.post(`${s.system.urls.products}/products/city-pass/actions/transfer-pass`, {}, {
      headers: { 'content-type': 'application/json', 'x-broker-internal': INTERNAL, 'x-broker-app': 'demo-app', 'x-broker-user': userId, ...(assertion ? { 'x-broker-second-factor': assertion } : {}) },
    });
    expect((await backend()).data.code).to.equal('forbidden');
    const { generateSigningKey } = await import('../../../flows/keys/keys.ts');
    const { signCompact } = await import('../../../platform/crypto/jws.ts');
    const foreign = generateSigningKey();
    const forged = signCompact({ typ: 'second-factor+jwt', kid: foreign.kid }, { iss: gw(), app: 'demo-app', sub: userId, aud: 'city-pass', act: 'transfer-pass', iat: now(), exp: now() + 60 }, foreign.privateKey);
    expect((await backend(forged)).data.code).to.equal('forbidden');
  });

  it('keeps the token key only sealed in the store', async function () {
    const vt = await visitToken(gw(), user());
    const b = await createBinding(gw(), vt);
    const store = s.store as MemoryStore;
    const dump = JSON.stringify([...(store as unknown as { entries: Map<string, unknown> }).entries]);
    expect(dump).to.not.include(b.payload.key);
    expect(dump).to.not.include(Buffer.from(b.payload.key, 'base64url').toString('base64'));
    expect(dump).to.not.include(b.payload.link);
  });
});

describe('binding: link guesses', function () {
  this.timeout(30_000);
  const s = useTestSystem(() => new MemoryStore());
  const gw = () => s.system.urls.gateway;

  it('a flood of link guesses from one address is limited', async function () {
    const answers = await Promise.all(Array.from({ length: SCAN_LIMIT + 10 }, () => http.post(`${gw()}/v1/binding-scans`,
      { link: randomBytes(18).toString('base64url'), ts: now(), hash: randomBytes(32).toString('base64url') },
      { headers: { 'content-type': 'application/json' } })));
    const codes = answers.map((a) => a.data.code);
    expect(codes.filter((c) => c === 'rate_limited').length).to.be.at.least(10);
    expect(codes.every((c) => c === 'rate_limited' || c === 'binding_link_invalid')).to.equal(true);
  });

});

describe('binding: expiry', function () {
  this.timeout(30_000);
  const s = useTestSystem(() => new MemoryStore(), { env: { BINDING_TTL_SECONDS: '5', BINDING_HEARTBEAT_SECONDS: '1' } });

  it('no phone: the stream gets heartbeats, then `expired` and ends; the link is dead', async function () {
    const gw = s.system.urls.gateway;
    const vt = await visitToken(gw, user());
    const b = await createBinding(gw, vt);
    const stream = await openStream(gw, b.bindingId, b.streamTicket);
    await stream.next('waiting');
    await stream.next('expired', 15_000);
    await stream.ended;
    expect(stream.comments).to.be.at.least(2);
    expect((await sendScan(b.payload)).body.code).to.equal('binding_link_invalid');
    expect((await poll(gw, vt, b.bindingId)).data.error).to.equal('expired_token');
  });

  it('a held stream ends when the gateway stops (the drain does not wait for it)', async function () {
    const store = new MemoryStore();
    const sys = await startTestSystem({ store });
    const vt = await visitToken(sys.urls.gateway, user());
    const b = await createBinding(sys.urls.gateway, vt);
    const stream = await openStream(sys.urls.gateway, b.bindingId, b.streamTicket);
    await stream.next('waiting');
    // A minute of grace: were the drain to wait for the stream, this test would time out.
    await sys.close(60_000);
    await stream.ended;
    await store.close();
  });
});

describe('binding: the phone request lands on another gateway process than the stream (one Redis)', function () {
  this.timeout(30_000);
  const INTERNAL_TOKEN = `internal-${randomBytes(16).toString('hex')}`;
  let stores: RedisStore[] = [];
  let first: RunningSystem | undefined;
  let second: RunningSystem | undefined;

  before(async function () {
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    stores = [await connectTestRedis(this, prefix), await connectTestRedis(this, prefix)];
    first = await startTestSystem({ store: stores[0]!, env: { INTERNAL_TOKEN } });
    second = await startTestSystem({ store: stores[1]!, components: ['gateway'], env: { INTERNAL_TOKEN, AUTH_URL: first.urls.auth, PRODUCTS_URL: first.urls.products } });
  });
  after(async function () {
    await second?.close(0);
    await first?.close(0);
    for (const st of stores) await st.close();
  });

  it('stream on one, scan and confirmation on the other: the stream sees scanned and bound', async function () {
    const vt = await visitToken(first!.urls.gateway, user());
    const b = await createBinding(first!.urls.gateway, vt);
    const stream = await openStream(first!.urls.gateway, b.bindingId, b.streamTicket);
    await stream.next('waiting');
    const ts = now();
    expect((await sendScan(b.payload, { ts, gateway: second!.urls.gateway })).status).to.equal(202);
    const scanned = await stream.next('scanned');
    // The page's own gateway confirms (its VT names that gateway as issuer).
    const res = await confirm(first!.urls.gateway, vt, b.bindingId, pageProof(b.payload, b.bindingId, String(scanned.data.hash)));
    expect(res.status, JSON.stringify(res.data)).to.equal(200);
    expect((await stream.next('bound')).data.receipt).to.equal(res.data.receipt);
    await stream.ended;
  });

  it('200 parallel confirmations on Redis: bound once', async function () {
    const vt = await visitToken(first!.urls.gateway, user());
    const b = await createBinding(first!.urls.gateway, vt);
    const ts = now();
    expect((await sendScan(b.payload, { ts })).status).to.equal(202);
    const proof = pageProof(b.payload, b.bindingId, phoneHash(b.payload, ts));
    const answers = await Promise.all(Array.from({ length: 200 }, () => confirm(first!.urls.gateway, vt, b.bindingId, proof)));
    expect(answers.filter((a) => a.status === 200)).to.have.length(1);
  });
});
