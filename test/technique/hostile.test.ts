/**
 * Hostile input, one case per `it`: every refusal asserts its status, its stable `code`, a
 * problem+json body without internals, that no AT or VT record was written, and, where a live AT
 * was at stake, that it was not lost (its record is unchanged and it still opens a VT after).
 * The system runs on the real Redis; tokens are counted in Redis itself.
 */
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import net from 'node:net';
import { expect } from 'chai';
import { createClient } from 'redis';
import { b64u, encryptCompact } from '../../platform/crypto/jwe.ts';
import { signRequest } from '../../platform/http/signature.ts';
import { generateSigningKey } from '../../flows/keys/keys.ts';
import { createHttpServer, MAX_HEADER_BYTES, MAX_URL_LENGTH } from '../../platform/http/server.ts';
import type { RedisStore } from '../../platform/store/index.ts';
import { atKey } from '../../flows/access-token/records.ts';
import { newOpaqueToken, tokenHash } from '../../platform/crypto/opaque.ts';
import { nowSeconds } from '../../platform/time.ts';
import { signVisitToken } from '../../flows/visit-token/records.ts';
import type { RunningSystem } from '../../system/start.ts';
import { connectTestRedis, deleteTestKeys, TEST_REDIS_URL } from '../support/env.ts';
import { demoClient, exchange, fetchEncJwk, fullFlow, http, openReply, sealEnvelope } from '../support/clients.ts';
import { createRegistry } from '../../flows/apps/registry.ts';
import { CITY_PASS_BACKEND, DEMO_APP, OTHER_APP, startTestSystem, testSigningKey } from '../support/system.ts';

type Answer = { status: number; headers: Record<string, unknown>; data: unknown };

/** An app whose ATs are issued only to requests from 10.0.0.0/8 (the suite runs on 127.0.0.1). */
const NET_APP = {
  appId: 'net-app', appSecret: 'net-secret-0123456789abcdefghijklmnopqrstuvwxyz', encKey: Buffer.alloc(32, 5).toString('base64url'),
  products: ['city-pass'], trustedNetworks: ['10.0.0.0/8'],
};

describe('hostile input: refused with its status and code, nothing issued, nothing lost (Redis)', function () {
  const prefix = `hostile:${randomBytes(6).toString('hex')}:`;
  let store: RedisStore;
  let raw: ReturnType<typeof createClient>;
  let system: RunningSystem;
  let gw: string;

  before(async function () {
    store = await connectTestRedis(this, prefix);
    raw = createClient({ url: TEST_REDIS_URL });
    await raw.connect();
    const registry = (urls: { demo: string }) => createRegistry({
      apps: [{ ...DEMO_APP, allowedOrigins: [new URL(urls.demo).origin] }, { ...OTHER_APP, allowedOrigins: [] }, NET_APP],
      backends: [CITY_PASS_BACKEND],
    });
    system = await startTestSystem({ store, system: { registry } });
    gw = system.urls.gateway;
  });
  after(async function () {
    await system?.close(0);
    await store?.close();
    if (raw?.isOpen) await raw.close();
    await deleteTestKeys(prefix);
  });

  async function tokenCounts(): Promise<{ at: number; vt: number }> {
    return { at: (await raw.keys(`${prefix}at:*`)).length, vt: (await raw.keys(`${prefix}vt:*`)).length };
  }

  /** Asserts an RFC 9457 answer with `status` and `code` that shows nothing of our internals. */
  function expectProblem(res: Answer, status: number, code: string): void {
    expect(res.status, JSON.stringify(res.data)).to.equal(status);
    expect(String(res.headers['content-type'])).to.match(/^application\/problem\+json/);
    const body = res.data as Record<string, unknown>;
    expect(body).to.include({ status, code });
    expect(body.type).to.equal(`https://h5-broker.dev/problems/${code}`);
    expect(JSON.stringify(body)).not.to.match(/\bat [\w./]+:\d+|node_modules|Error:|stack/);
  }

  /**
   * Watches the store around one hostile request: `refused` asserts the problem, that the AT and
   * VT counts did not change and, when a victim AT is given, that its record is untouched and it
   * still opens a VT afterwards (nothing lost).
   */
  async function watch(victim?: string) {
    const before = await tokenCounts();
    const victimKey = victim ? prefix + atKey(tokenHash(victim)) : undefined;
    const victimRecord = victimKey ? await raw.get(victimKey) : null;
    if (victimKey) expect(victimRecord, 'the victim AT is live before the attack').to.be.a('string').and.not.match(/^used:/);
    return {
      async refused(res: Answer, status: number, code: string): Promise<void> {
        expectProblem(res, status, code);
        expect(await tokenCounts(), 'no AT or VT record was written').to.deep.equal(before);
        if (!victim) return;
        expect(await raw.get(victimKey!), 'the victim AT is unchanged').to.equal(victimRecord);
        const { envelope, r } = sealEnvelope(await fetchEncJwk(gw), victim);
        const ex = await exchange(gw, envelope);
        expect(ex.status, 'the victim AT still opens a VT').to.equal(200);
        expect(openReply(ex.data.envelope, r).vt).to.be.a('string');
      },
    };
  }

  const productCall = (vt: string, productId = 'city-pass') => http.get(`${gw}/v1/products/${productId}`, { headers: { authorization: `Bearer ${vt}` } });
  const newAt = async (productId = 'city-pass') => (await demoClient(gw).requestAccessToken({ userId: 'alice', productId })).at;

  // ---------------------------------------------------------------- AT issuance (signed requests)

  interface Signed {
    body?: string | Buffer;
    sentBody?: string | Buffer;
    secret?: string;
    keyId?: string;
    created?: number;
    nonce?: string;
    contentType?: string;
    sentContentType?: string;
    headers?: Record<string, string>;
    path?: string;
  }
  function signedPost(req: Signed = {}) {
    const body = req.body ?? JSON.stringify({ userId: 'alice', productId: 'city-pass' });
    const path = req.path ?? '/v1/access-tokens';
    const headers = { 'content-type': req.contentType ?? 'application/json' };
    const sig = signRequest({
      method: 'POST', targetUri: gw + path, headers, body,
      keyId: req.keyId ?? DEMO_APP.appId, secret: req.secret ?? DEMO_APP.appSecret, created: req.created, nonce: req.nonce,
    });
    return http.post(gw + path, req.sentBody ?? body, {
      headers: { ...headers, ...(req.sentContentType && { 'content-type': req.sentContentType }), ...sig, ...req.headers },
      transformRequest: [(d) => d],
    });
  }

  const issuance: [string, () => Signed, number, string][] = [
    ['a wrong secret', () => ({ secret: 'not-the-secret-0123456789abcdefghijklmnop' }), 401, 'invalid_signature'],
    ['a body changed after signing', () => ({ sentBody: JSON.stringify({ userId: 'mallory', productId: 'city-pass' }) }), 401, 'invalid_signature'],
    ['a content type changed after signing', () => ({ sentContentType: 'application/json; charset=latin1' }), 401, 'invalid_signature'],
    ['`created` 305 s in the future (window 300 s)', () => ({ created: nowSeconds() + 305 }), 401, 'invalid_signature'],
    ['`created` 305 s in the past (window 300 s)', () => ({ created: nowSeconds() - 305 }), 401, 'invalid_signature'],
    // The same answer as a wrong secret, so app ids cannot be enumerated (outside review).
    ['an unknown app (keyid)', () => ({ keyId: 'no-such-app' }), 401, 'invalid_signature'],
    ['no signature headers at all', () => ({ headers: { 'signature-input': '', signature: '' } }), 401, 'invalid_signature'],
    ['a Signature-Input that is not a structured field', () => ({ headers: { 'signature-input': 'sig1=(((' } }), 401, 'invalid_signature'],
    ['a body over 4 KiB', () => ({ body: JSON.stringify({ userId: 'alice', productId: 'city-pass', pad: 'x'.repeat(5000) }) }), 413, 'payload_too_large'],
    ['a body that is not JSON', () => ({ body: 'userId=alice&productId=city-pass' }), 400, 'invalid_request'],
    ['a body that is not valid UTF-8', () => ({ body: Buffer.from([0x7b, 0x22, 0x75, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }), 400, 'invalid_request'],
    ['a JSON array body', () => ({ body: '[{"userId":"alice","productId":"city-pass"}]' }), 400, 'invalid_request'],
    ['a `__proto__` key (prototype pollution)', () => ({ body: '{"userId":"alice","productId":"city-pass","__proto__":{"polluted":"yes"}}' }), 400, 'invalid_request'],
    ['a nested `constructor.prototype` key', () => ({ body: '{"userId":"alice","productId":"city-pass","profile":{"constructor":{"prototype":{"polluted":"yes"}}}}' }), 400, 'invalid_request'],
    ['a text/plain body', () => ({ contentType: 'text/plain' }), 415, 'unsupported_media_type'],
    ['a product the app may not open', () => ({ body: JSON.stringify({ userId: 'alice', productId: 'no-such-product-for-us' }) }), 403, 'forbidden_product'],
    ['a user id with control characters', () => ({ body: JSON.stringify({ userId: 'alice\u0000\n', productId: 'city-pass' }) }), 400, 'invalid_request'],
    ['a user id of 129 characters', () => ({ body: JSON.stringify({ userId: 'a'.repeat(129), productId: 'city-pass' }) }), 400, 'invalid_request'],
  ];
  for (const [what, make, status, code] of issuance) {
    it(`AT issuance refuses ${what}: ${status} ${code}`, async function () {
      const w = await watch();
      await w.refused(await signedPost(make()), status, code);
      expect(({} as Record<string, unknown>).polluted, 'Object.prototype is clean').to.equal(undefined);
    });
  }

  it('AT issuance refuses a replayed signature (same nonce): 401 replayed_request; the first AT stays valid', async function () {
    const nonce = randomBytes(16).toString('base64url');
    const created = nowSeconds();
    const first = await signedPost({ nonce, created });
    expect(first.status).to.equal(201);
    const at = (await demoClient(gw).requestAccessToken({ userId: 'alice', productId: 'city-pass' })).at;
    const w = await watch(at);
    await w.refused(await signedPost({ nonce, created }), 401, 'replayed_request');
  });

  it('AT issuance refuses a forged X-Forwarded-For naming a trusted network, from a peer that is no trusted proxy: 403 untrusted_network', async function () {
    const w = await watch();
    const res = await signedPost({ keyId: NET_APP.appId, secret: NET_APP.appSecret, headers: { 'x-forwarded-for': '10.1.2.3' } });
    await w.refused(res, 403, 'untrusted_network');
    expect((res.data as { detail: string }).detail).to.match(/no token was issued/);
  });

  it('AT issuance accepts `created` at the edges of the clock-skew window (295 s either side)', async function () {
    const before = await tokenCounts();
    expect((await signedPost({ created: nowSeconds() - 295 })).status).to.equal(201);
    expect((await signedPost({ created: nowSeconds() + 295 })).status).to.equal(201);
    expect((await tokenCounts()).at).to.equal(before.at + 2);
  });

  it('AT issuance refuses GET with 405 method_not_allowed and an Allow header', async function () {
    const w = await watch();
    const res = await http.get(`${gw}/v1/access-tokens`);
    await w.refused(res, 405, 'method_not_allowed');
    expect(res.headers.allow).to.match(/POST/);
  });

  // ---------------------------------------------------------------- VT exchange (envelopes)

  function tamper(envelope: string, part: number, change: (b: Buffer) => Buffer): string {
    const parts = envelope.split('.');
    parts[part] = b64u(change(Buffer.from(parts[part]!, 'base64url')));
    return parts.join('.');
  }
  const flipFirst = (b: Buffer) => {
    const c = Buffer.from(b);
    c[0]! ^= 0x01;
    return c;
  };
  function withHeader(envelope: string, edit: (h: Record<string, unknown>) => Record<string, unknown>): string {
    return tamper(envelope, 0, (b) => Buffer.from(JSON.stringify(edit(JSON.parse(b.toString('utf8'))))));
  }

  const envelopes: [string, (envelope: string) => string][] = [
    ['a tampered GCM tag', (e) => tamper(e, 4, flipFirst)],
    ['a tampered ciphertext', (e) => tamper(e, 3, flipFirst)],
    ['a tampered IV', (e) => tamper(e, 2, flipFirst)],
    ['a tampered wrapped key (RSA-OAEP padding)', (e) => tamper(e, 1, flipFirst)],
    ['a truncated JWE (four parts)', (e) => e.split('.').slice(0, 4).join('.')],
    ['a JWE with an extra part (six parts)', (e) => `${e}.AAAA`],
    ['a 96-bit IV cut to 64 bits', (e) => tamper(e, 2, (b) => b.subarray(0, 8))],
    ['a tag cut to 12 bytes', (e) => tamper(e, 4, (b) => b.subarray(0, 12))],
    ['a wrong `kid`', (e) => withHeader(e, (h) => ({ ...h, kid: 'not-our-key' }))],
    ['`alg` swapped to ECDH-ES+A256KW on the RSA key', (e) => withHeader(e, (h) => ({ ...h, alg: 'ECDH-ES+A256KW' }))],
    ['`alg` RSA1_5', (e) => withHeader(e, (h) => ({ ...h, alg: 'RSA1_5' }))],
    ['`alg` none', (e) => withHeader(e, (h) => ({ ...h, alg: 'none' }))],
    ['`alg` dir (a key the client never had)', (e) => withHeader(e, (h) => ({ ...h, alg: 'dir' }))],
    ['`enc` A128GCM', (e) => withHeader(e, (h) => ({ ...h, enc: 'A128GCM' }))],
    ['a `zip` header', (e) => withHeader(e, (h) => ({ ...h, zip: 'DEF' }))],
    ['an unexpected header member (`jku`)', (e) => withHeader(e, (h) => ({ ...h, jku: 'https://evil.example/jwks' }))],
    ['a `crit` header', (e) => withHeader(e, (h) => ({ ...h, crit: ['exp'], exp: 1 }))],
    ['a header that is not JSON', (e) => tamper(e, 0, () => Buffer.from('{"alg":'))],
    ['base64url with characters outside the alphabet', (e) => e.replace(/^./, '*')],
    ['an envelope of 8,300 characters (over the 8 KiB envelope limit)', (e) => e + 'A'.repeat(8300 - e.length)],
  ];
  for (const [what, make] of envelopes) {
    it(`the VT exchange refuses ${what}: 400 envelope_invalid, the AT inside not lost`, async function () {
      const at = await newAt();
      const { envelope } = sealEnvelope(await fetchEncJwk(gw), at);
      const w = await watch(at);
      await w.refused(await exchange(gw, make(envelope)), 400, 'envelope_invalid');
    });
  }

  it('the VT exchange refuses an ECDH envelope whose `epk` is not on P-256: 400 envelope_invalid', async function () {
    const at = await newAt();
    const { envelope } = sealEnvelope(await fetchEncJwk(gw, 'ECDH-ES+A256KW'), at);
    const bad = withHeader(envelope, (h) => ({ ...h, epk: { ...(h.epk as object), y: b64u(Buffer.alloc(32, 1)) } }));
    const w = await watch(at);
    await w.refused(await exchange(gw, bad), 400, 'envelope_invalid');
  });

  it('every envelope refusal has the same body, whatever the cause (no oracle)', async function () {
    const at = await newAt();
    const { envelope } = sealEnvelope(await fetchEncJwk(gw), at);
    const bodies = new Set<string>();
    for (const [, make] of envelopes) {
      const res = await http.post(`${gw}/v1/visit-tokens`, JSON.stringify({ envelope: make(envelope) }), {
        headers: { 'content-type': 'application/json' }, responseType: 'text', transformResponse: [(d) => d],
      });
      bodies.add(String(res.data));
    }
    expect([...bodies]).to.have.length(1);
  });

  it('the VT exchange refuses a body over its limit: 413 payload_too_large', async function () {
    const w = await watch();
    await w.refused(await exchange(gw, 'A'.repeat(9000)), 413, 'payload_too_large');
  });

  it('the VT exchange refuses a body that is not JSON: 400 invalid_request', async function () {
    const w = await watch();
    const res = await http.post(`${gw}/v1/visit-tokens`, 'envelope=abc', { headers: { 'content-type': 'application/json' }, transformRequest: [(d) => d] });
    await w.refused(res, 400, 'invalid_request');
  });

  it('the VT exchange refuses invalid UTF-8: 400 invalid_request', async function () {
    const w = await watch();
    const res = await http.post(`${gw}/v1/visit-tokens`, Buffer.from([0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), {
      headers: { 'content-type': 'application/json' }, transformRequest: [(d) => d],
    });
    await w.refused(res, 400, 'invalid_request');
  });

  it('the VT exchange refuses a `__proto__` payload: 400 invalid_request, the AT not lost', async function () {
    const at = await newAt();
    const { envelope } = sealEnvelope(await fetchEncJwk(gw), at);
    const w = await watch(at);
    const res = await http.post(`${gw}/v1/visit-tokens`, `{"envelope":"${envelope}","__proto__":{"polluted":"yes"}}`, {
      headers: { 'content-type': 'application/json' }, transformRequest: [(d) => d],
    });
    await w.refused(res, 400, 'invalid_request');
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  for (const [what, plaintext] of [['not JSON', 'at=abc'], ['JSON without a string `at`', '{"at":1,"iat":1}'], ['a JSON array', '["at"]']] as const) {
    it(`the VT exchange refuses an envelope that opens to ${what}: 400 envelope_invalid`, async function () {
      const jwk = await fetchEncJwk(gw);
      const envelope = encryptCompact({
        header: { alg: jwk.alg, enc: 'A256GCM', kid: jwk.kid }, plaintext,
        key: createPublicKey({ key: { ...jwk } as Record<string, string>, format: 'jwk' }), cek: randomBytes(32),
      });
      const w = await watch();
      await w.refused(await exchange(gw, envelope), 400, 'envelope_invalid');
    });
  }

  it('the VT exchange refuses an unknown AT: 401 at_invalid', async function () {
    const w = await watch();
    await w.refused(await exchange(gw, sealEnvelope(await fetchEncJwk(gw), newOpaqueToken()).envelope), 401, 'at_invalid');
  });

  it('the VT exchange refuses an expired AT: 401 at_invalid, and writes no VT', async function () {
    const at = newOpaqueToken();
    await store.setIfAbsent(atKey(tokenHash(at)), JSON.stringify({ typ: 'at', appId: DEMO_APP.appId, userId: 'alice', productId: 'city-pass', exp: nowSeconds() - 1 }), 60);
    const w = await watch();
    await w.refused(await exchange(gw, sealEnvelope(await fetchEncJwk(gw), at).envelope), 401, 'at_invalid');
  });

  it('the VT exchange refuses a used AT: 401 at_invalid, no VT issued, and the VT it gave is revoked', async function () {
    const { token, reply } = await fullFlow(gw);
    const before = await tokenCounts();
    expectProblem(await exchange(gw, sealEnvelope(await fetchEncJwk(gw), token.at).envelope), 401, 'at_invalid');
    expect(await tokenCounts(), 'no VT issued; the first VT\'s record is gone').to.deep.equal({ at: before.at, vt: before.vt - 1 });
    expectProblem(await productCall(reply.vt), 401, 'vt_invalid');
  });

  it('200 parallel exchanges of one AT on Redis give exactly one VT; 199 get at_invalid and, as replays, revoke it', async function () {
    const at = await newAt();
    const jwk = await fetchEncJwk(gw);
    const before = await tokenCounts();
    const sealed = Array.from({ length: 200 }, () => sealEnvelope(jwk, at));
    const answers = await Promise.all(sealed.map((s) => exchange(gw, s.envelope)));
    const ok = answers.flatMap((a, i) => (a.status === 200 ? [{ a, r: sealed[i]!.r }] : []));
    expect(ok).to.have.length(1);
    for (const a of answers.filter((x) => x.status !== 200)) expectProblem(a, 401, 'at_invalid');
    // The one VT was issued, then revoked by the losers: a second presentation of an AT is theft.
    const tombstone = await raw.get(prefix + atKey(tokenHash(at)));
    const vt = openReply(ok[0]!.a.data.envelope, ok[0]!.r).vt;
    const jti = JSON.parse(Buffer.from(vt.split('.')[1]!, 'base64url').toString()).jti;
    // ... and the digest of the R its answer was sealed under (the page's retry, decision 41).
    const rDigest = createHash('sha256').update(ok[0]!.r).digest('base64url');
    expect(tombstone, 'the AT is consumed, naming the one VT').to.equal(`used:${jti}.${rDigest}`);
    expect(await tokenCounts()).to.deep.equal(before);
    expectProblem(await productCall(vt), 401, 'vt_invalid');
  });

  // ---------------------------------------------------------------- product API (VTs)

  const forged = (edit: (parts: string[]) => string[]) => async () => edit((await fullFlow(gw)).reply.vt.split('.')).join('.');

  const visitTokens: [string, () => Promise<string>, string?][] = [
    ['a tampered signature', forged(([h, p, s]) => [h!, p!, b64u(flipFirst(Buffer.from(s!, 'base64url')))])],
    ['a changed payload (another user)', forged(([h, p, s]) => [h!, b64u(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'mallory' })), s!])],
    ['`alg` none with no signature', forged(([, p]) => [b64u(JSON.stringify({ alg: 'none', typ: 'vt+jwt' })), p!, ''])],
    ['HS256 keyed with our public key', forged(([h, p, s]) => [b64u(JSON.stringify({ ...JSON.parse(Buffer.from(h!, 'base64url').toString()), alg: 'HS256' })), p!, s!])],
    ['a VT signed by a foreign key under our kid', async () => signVisitToken({ ...generateSigningKey(), kid: testSigningKey().kid }, { issuer: gw, userId: 'alice', appId: DEMO_APP.appId, productId: 'city-pass', ttlSeconds: 600 }).vt],
    ['an expired VT', async () => signVisitToken(testSigningKey(), { issuer: gw, userId: 'alice', appId: DEMO_APP.appId, productId: 'city-pass', ttlSeconds: 60, now: nowSeconds() - 120 }).vt],
    ['a validly signed VT that was never issued (no liveness record)', async () => signVisitToken(testSigningKey(), { issuer: gw, userId: 'alice', appId: DEMO_APP.appId, productId: 'city-pass', ttlSeconds: 600 }).vt],
    ['an AT presented as a VT', () => newAt()],
    ['a 10 KB bearer token', async () => 'A'.repeat(10_000)],
  ];
  for (const [what, make] of visitTokens) {
    it(`the product API refuses ${what}: 401 vt_invalid`, async function () {
      const vt = await make();
      const w = await watch();
      const res = await productCall(vt);
      await w.refused(res, 401, 'vt_invalid');
      expect(res.headers['www-authenticate']).to.match(/^Bearer /);
    });
  }

  it('the product API refuses a request without a VT: 401 vt_invalid', async function () {
    const w = await watch();
    await w.refused(await http.get(`${gw}/v1/products/city-pass`), 401, 'vt_invalid');
  });

  it('the product API refuses the VT of another product: 403 forbidden_product', async function () {
    const { reply } = await fullFlow(gw, 'alice', 'city-pass');
    const w = await watch();
    await w.refused(await productCall(reply.vt, 'travel-insurance'), 403, 'forbidden_product');
  });

  it('the product API refuses a revoked VT: 401 vt_invalid', async function () {
    const { reply } = await fullFlow(gw);
    const basic = `Basic ${Buffer.from(`${DEMO_APP.appId}:${DEMO_APP.appSecret}`).toString('base64')}`;
    const rev = await http.post(`${gw}/v1/revoke`, new URLSearchParams({ token: reply.vt }).toString(), {
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(rev.status).to.equal(200);
    const w = await watch();
    await w.refused(await productCall(reply.vt), 401, 'vt_invalid');
  });

  // ---------------------------------------------------------------- HTTP framing and routing

  /** Sends `request` as raw bytes and returns the whole answer (the server closes the socket). */
  function rawRequest(url: string, request: string): Promise<{ status: number; headers: string; body: string }> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => socket.write(request));
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('error', reject);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const [head = '', body = ''] = text.split('\r\n\r\n');
        resolve({ status: Number(head.split(' ')[1]), headers: head, body });
      });
      socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
    });
  }

  it(`a URL over ${MAX_URL_LENGTH} characters: 414 uri_too_long`, async function () {
    const w = await watch();
    await w.refused(await http.get(`${gw}/v1/products/${'a'.repeat(MAX_URL_LENGTH)}`), 414, 'uri_too_long');
  });

  it(`headers over ${MAX_HEADER_BYTES} bytes: 431 headers_too_large, as problem+json`, async function () {
    const w = await watch();
    const res = await rawRequest(gw, `GET /v1/products/city-pass HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(MAX_HEADER_BYTES + 10)}\r\n\r\n`);
    expect(res.headers).to.match(/\r\nX-Content-Type-Options: nosniff\r\n/).and.match(/\r\nReferrer-Policy: no-referrer\r\n/).and.match(/\r\nContent-Security-Policy: default-src 'none'/);
    await w.refused({ status: res.status, headers: { 'content-type': /content-type: ([^\r]+)/i.exec(res.headers)?.[1] }, data: JSON.parse(res.body) }, 431, 'headers_too_large');
  });

  it('a malformed request line: 400 invalid_request, as problem+json', async function () {
    const w = await watch();
    const res = await rawRequest(gw, 'GARBAGE / NOT-HTTP\r\n\r\n');
    await w.refused({ status: res.status, headers: { 'content-type': /content-type: ([^\r]+)/i.exec(res.headers)?.[1] }, data: JSON.parse(res.body) }, 400, 'invalid_request');
  });

  it('a client that sends half its headers and stalls: 408 request_timeout, as problem+json', async function () {
    const server = createHttpServer({ headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 100 });
    server.on('request', (_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await rawRequest(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, 'GET / HTTP/1.1\r\nHost: x\r\n');
      expect(res.status).to.equal(408);
      expect(JSON.parse(res.body)).to.include({ status: 408, code: 'request_timeout' });
    } finally {
      server.close();
    }
  });

  it('an unknown route: 404 not_found', async function () {
    const w = await watch();
    await w.refused(await http.get(`${gw}/v1/admin`), 404, 'not_found');
  });

  it('auth refuses a caller without the internal credential: 403 forbidden, no AT', async function () {
    const w = await watch();
    const res = await http.post(`${system.urls.auth}/internal/access-tokens`, { appId: DEMO_APP.appId, userId: 'alice', productId: 'city-pass' });
    await w.refused(res, 403, 'forbidden');
  });

  it('auth refuses a forged internal credential: 403 forbidden, no VT, the AT not lost', async function () {
    const at = await newAt();
    const w = await watch(at);
    const res = await http.post(`${system.urls.auth}/internal/visit-tokens`, { envelope: sealEnvelope(await fetchEncJwk(gw), at).envelope }, {
      headers: { 'x-broker-internal': 'guess-0123456789abcdefghijklmnopqrstuvwxyz' },
    });
    await w.refused(res, 403, 'forbidden');
  });
});
