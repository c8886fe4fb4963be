/**
 * docs/openapi.json is a valid OpenAPI 3.1 document, current with protocol/openapi.ts, served by the
 * gateway; and the gateway's own answers, of a full flow and of every error case reachable here,
 * match it: each status is declared for its operation (not only `default`), the body validates
 * against the declared schema (ajv, JSON Schema 2020-12) and the required headers are there and
 * match theirs.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Validator } from '@seriousme/openapi-schema-validator';
import { MemoryStore } from '../../platform/store/index.ts';
import { createRegistry } from '../../flows/apps/registry.ts';
import { signRequest } from '../../platform/http/signature.ts';
import { decryptCompact } from '../../platform/crypto/jwe.ts';
import { buildOpenApi } from '../../protocol/openapi.ts';
import { PROBLEMS } from '../../protocol/problems.ts';
import { openApiText } from '../../scripts/openapi.ts';
import type { RunningSystem } from '../../system/start.ts';
import { exchange, fetchEncJwk, http, openReply, sealEnvelope } from '../support/clients.ts';
import { CITY_PASS_BACKEND, DEMO_APP, OTHER_APP, startTestSystem } from '../support/system.ts';

type Json = Record<string, any>;
type Answer = { status: number; headers: Record<string, unknown>; data: unknown };

const app = (appId: string, n: number, extra: Record<string, unknown> = {}) => ({
  appId, name: appId, appSecret: `${appId}-secret-0123456789abcdefghijklmnopqrstuvwxyz`,
  encKey: Buffer.alloc(32, n).toString('base64url'), products: ['city-pass'], allowedOrigins: [], ...extra,
});
const OUTSIDE = app('outside-app', 21, { trustedNetworks: ['10.0.0.0/8'] });
const GHOST = app('ghost-app', 22, { products: ['ghost-product'] });
const LIMITED = app('limited-app', 23, { rateLimit: { limit: 1, windowSeconds: 3600 } });
type AppLike = { appId: string; appSecret: string; encKey: string };

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** Checks one answer against the document; returns which operation and status it matched. */
function checker(doc: Json) {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(doc, 'openapi');
  const pointer = (...parts: string[]) => 'openapi#/' + parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  const seen: string[] = [];
  return {
    seen,
    check(path: string, method: string, res: Answer, expectCode?: string): void {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path} in the document`).to.be.an('object');
      const status = String(res.status);
      const declared = op.responses[status];
      expect(declared, `${method} ${path} declares ${status} (${JSON.stringify(res.data)})`).to.be.an('object');
      const ctype = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (declared.content) {
        expect(Object.keys(declared.content), `${method} ${path} ${status} media type`).to.include(ctype);
        const validate = ajv.getSchema(pointer('paths', path, method, 'responses', status, 'content', ctype, 'schema'))!;
        const ok = validate(res.data);
        expect(ok, `${method} ${path} ${status}: ${JSON.stringify(validate.errors)} in ${JSON.stringify(res.data)}`).to.equal(true);
      } else {
        expect(res.data === '' || res.data === undefined, `${method} ${path} ${status} has no body`).to.equal(true);
      }
      for (const [name, h] of Object.entries<Json>(declared.headers ?? {})) {
        const value = res.headers[name.toLowerCase()];
        if (h.required) expect(value, `${method} ${path} ${status} header ${name}`).to.be.a('string');
        if (value !== undefined) {
          const validate = ajv.getSchema(pointer('paths', path, method, 'responses', status, 'headers', name, 'schema'))!;
          expect(validate(value), `${method} ${path} ${status} header ${name}: ${String(value)}`).to.equal(true);
        }
      }
      if (expectCode) expect((res.data as Json).code, `${method} ${path}`).to.equal(expectCode);
      seen.push(`${method} ${path} ${status}${expectCode ? ` ${expectCode}` : ''}`);
    },
  };
}

describe('OpenAPI (docs/openapi.json, protocol/openapi.ts)', function () {
  it('is a valid OpenAPI 3.1 document, and docs/openapi.json is current', async function () {
    const doc = buildOpenApi('https://gateway.example');
    const result = await new Validator().validate(doc as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? [], JSON.stringify(result.errors)).to.deep.equal([]);
    expect(result.valid).to.equal(true);
    expect(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8')).to.equal(openApiText());
  });

  it('names every problem code with its status and challenge, from the table', function () {
    const doc = buildOpenApi('https://gateway.example');
    const listed = doc.components as Json;
    expect(listed.schemas.Problem.properties.code.enum).to.deep.equal(Object.keys(PROBLEMS));
    for (const [code, p] of Object.entries<Json>(PROBLEMS)) {
      const entry = listed.schemas.Problem['x-problem-codes'][code];
      expect(entry.status[0], code).to.equal(p.status);
      expect(entry['WWW-Authenticate'], code).to.equal(p.challenge);
    }
  });

  describe('the gateway answers as the document says', function () {
    let system: RunningSystem;
    let limitedSystem: RunningSystem;
    let doc: Json;
    let v: ReturnType<typeof checker>;
    const gw = () => system.urls.gateway;

    before(async function () {
      const registry = (urls: { demo: string }) => createRegistry({
        apps: [{ ...DEMO_APP, allowedOrigins: [new URL(urls.demo).origin] }, { ...OTHER_APP, allowedOrigins: [] }, OUTSIDE, GHOST, LIMITED],
        backends: [CITY_PASS_BACKEND],
      });
      system = await startTestSystem({ store: new MemoryStore(), system: { registry } });
      limitedSystem = await startTestSystem({ store: new MemoryStore(), env: { RATE_LIMIT_EXCHANGE: '1', RATE_LIMIT_PRODUCT: '1' } });
      doc = (await http.get(`${gw()}/openapi.json`)).data;
      v = checker(doc);
    });
    after(async function () {
      await system?.close(0);
      await limitedSystem?.close(0);
    });

    function signed(gateway: string, body: string, a: AppLike = DEMO_APP, contentType = 'application/json') {
      const headers = signRequest({ method: 'POST', targetUri: `${gateway}/v1/access-tokens`, headers: { 'content-type': contentType }, body, keyId: a.appId, secret: a.appSecret });
      return { body, headers: { ...headers, 'content-type': contentType } };
    }
    const post = (gateway: string, s: { body: string; headers: Record<string, string> }) => http.post(`${gateway}/v1/access-tokens`, s.body, { headers: s.headers, transformResponse: (d) => (d ? JSON.parse(d) : d) });
    async function issue(gateway: string, a: AppLike, productId: string) {
      const res = await post(gateway, signed(gateway, JSON.stringify({ userId: 'alice', productId }), a));
      return res;
    }
    async function vtFor(gateway: string, a: AppLike, productId: string) {
      const res = await issue(gateway, a, productId);
      const { plaintext } = decryptCompact(res.data.accessToken, { algorithms: ['A256KW'], key: () => Buffer.from(a.encKey, 'base64url') });
      const { at } = JSON.parse(plaintext.toString('utf8'));
      const { envelope, r } = sealEnvelope(await fetchEncJwk(gateway, 'ECDH-ES+A256KW'), at);
      const ex = await exchange(gateway, envelope);
      return { issued: res, ex, reply: openReply(ex.data.envelope, r) };
    }

    it('serves the document for its own URL, and a page naming every operation', async function () {
      const res = await http.get(`${gw()}/openapi.json`);
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(res.data).to.deep.equal(JSON.parse(JSON.stringify(buildOpenApi(gw()))));
      const page = await http.get(`${gw()}/docs`);
      expect(page.status).to.equal(200);
      expect(page.headers['content-type']).to.match(/^text\/html/);
      expect(page.headers['content-security-policy']).to.equal("default-src 'none'; frame-ancestors 'none'");
      for (const [path, item] of Object.entries<Json>(doc.paths)) {
        for (const method of Object.keys(item)) expect(page.data, `${method} ${path}`).to.include(`${method.toUpperCase()} ${path}`);
      }
      // Nothing loaded from anywhere: no script, no style sheet, no image, no frame.
      expect(page.data).to.not.match(/<(script|link|img|iframe|style)\b|\bsrc=/i);
    });

    it('a full flow: issuance, JWKS, exchange, product call, introspection (active and not), revocation, health', async function () {
      const { issued, ex, reply } = await vtFor(gw(), DEMO_APP, 'city-pass');
      v.check('/v1/access-tokens', 'post', issued);
      v.check('/.well-known/jwks.json', 'get', await http.get(`${gw()}/.well-known/jwks.json`));
      v.check('/v1/visit-tokens', 'post', ex);
      // The reply's plaintext matches its schema too.
      const ajv = new Ajv2020({ strict: false, validateFormats: false });
      ajv.addSchema(doc, 'openapi');
      expect(ajv.validate({ $ref: 'openapi#/components/schemas/ReplyPlaintext' }, reply), JSON.stringify(ajv.errors)).to.equal(true);
      const auth = { headers: { authorization: `Bearer ${reply.vt}` } };
      v.check('/v1/products/{productId}', 'get', await http.get(`${gw()}/v1/products/city-pass`, auth));
      const form = (token: string, who = basic(DEMO_APP.appId, DEMO_APP.appSecret)) =>
        ({ body: new URLSearchParams({ token }).toString(), opts: { headers: { authorization: who, 'content-type': 'application/x-www-form-urlencoded' } } });
      const f = form(reply.vt);
      const active = await http.post(`${gw()}/v1/introspect`, f.body, f.opts);
      expect(active.data.active).to.equal(true);
      v.check('/v1/introspect', 'post', active);
      const backend = form(reply.vt, basic(CITY_PASS_BACKEND.clientId, CITY_PASS_BACKEND.clientSecret));
      v.check('/v1/introspect', 'post', await http.post(`${gw()}/v1/introspect`, backend.body, backend.opts));
      v.check('/v1/revoke', 'post', await http.post(`${gw()}/v1/revoke`, f.body, f.opts));
      const inactive = await http.post(`${gw()}/v1/introspect`, f.body, f.opts);
      expect(inactive.data).to.deep.equal({ active: false });
      v.check('/v1/introspect', 'post', inactive);
      v.check('/healthz', 'get', await http.get(`${gw()}/healthz`));
      v.check('/readyz', 'get', await http.get(`${gw()}/readyz`));
    });

    it('every error case of AT issuance', async function () {
      const path = '/v1/access-tokens';
      const body = JSON.stringify({ userId: 'alice', productId: 'city-pass' });
      v.check(path, 'post', await http.post(`${gw()}${path}`, body, { headers: { 'content-type': 'application/json' } }), 'invalid_signature');
      const wrong = signed(gw(), body, { ...DEMO_APP, appSecret: 'x'.repeat(48) });
      v.check(path, 'post', await post(gw(), wrong), 'invalid_signature');
      const once = signed(gw(), body);
      expect((await post(gw(), once)).status).to.equal(201);
      v.check(path, 'post', await post(gw(), once), 'replayed_request');
      v.check(path, 'post', await issue(gw(), OTHER_APP, 'city-pass'), 'forbidden_product');
      v.check(path, 'post', await issue(gw(), OUTSIDE, 'city-pass'), 'untrusted_network');
      v.check(path, 'post', await post(gw(), signed(gw(), JSON.stringify({ productId: 'city-pass' }))), 'invalid_request');
      v.check(path, 'post', await post(gw(), signed(gw(), body, DEMO_APP, 'text/plain')), 'unsupported_media_type');
      v.check(path, 'post', await post(gw(), signed(gw(), JSON.stringify({ userId: 'a'.repeat(5000), productId: 'city-pass' }))), 'payload_too_large');
      expect((await issue(gw(), LIMITED, 'city-pass')).status).to.equal(201);
      v.check(path, 'post', await issue(gw(), LIMITED, 'city-pass'), 'rate_limited');
    });

    it('every error case of the exchange', async function () {
      const path = '/v1/visit-tokens';
      const jwk = await fetchEncJwk(gw(), 'RSA-OAEP-256');
      v.check(path, 'post', await exchange(gw(), 'not-a-jwe'), 'envelope_invalid');
      v.check(path, 'post', await exchange(gw(), sealEnvelope(jwk, 'A'.repeat(43)).envelope), 'at_invalid');
      v.check(path, 'post', await http.post(`${gw()}${path}`, '[1]', { headers: { 'content-type': 'application/json' } }), 'invalid_request');
      v.check(path, 'post', await http.post(`${gw()}${path}`, 'envelope=x', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'unsupported_media_type');
      v.check(path, 'post', await http.post(`${gw()}${path}`, JSON.stringify({ envelope: 'x'.repeat(9000) }), { headers: { 'content-type': 'application/json' } }), 'payload_too_large');
      const g = limitedSystem.urls.gateway;
      const { ex, reply } = await vtFor(g, DEMO_APP, 'city-pass');
      expect(ex.status).to.equal(200);
      v.check(path, 'post', await exchange(g, 'not-a-jwe'), 'rate_limited');
      // The product route of the limited system: one call, then 429.
      const auth = { headers: { authorization: `Bearer ${reply.vt}` } };
      expect((await http.get(`${g}/v1/products/city-pass`, auth)).status).to.equal(200);
      v.check('/v1/products/{productId}', 'get', await http.get(`${g}/v1/products/city-pass`, auth), 'rate_limited');
    });

    it('every error case of the product route', async function () {
      const path = '/v1/products/{productId}';
      v.check(path, 'get', await http.get(`${gw()}/v1/products/city-pass`), 'vt_invalid');
      v.check(path, 'get', await http.get(`${gw()}/v1/products/city-pass`, { headers: { authorization: 'Bearer a.b.c' } }), 'vt_invalid');
      const { reply } = await vtFor(gw(), DEMO_APP, 'city-pass');
      v.check(path, 'get', await http.get(`${gw()}/v1/products/savings-plus`, { headers: { authorization: `Bearer ${reply.vt}` } }), 'forbidden_product');
      const ghost = await vtFor(gw(), GHOST, 'ghost-product');
      v.check(path, 'get', await http.get(`${gw()}/v1/products/ghost-product`, { headers: { authorization: `Bearer ${ghost.reply.vt}` } }), 'unknown_product');
    });

    it('every error case of introspection and revocation', async function () {
      for (const path of ['/v1/introspect', '/v1/revoke']) {
        const form = { 'content-type': 'application/x-www-form-urlencoded' };
        const demo = basic(DEMO_APP.appId, DEMO_APP.appSecret);
        v.check(path, 'post', await http.post(`${gw()}${path}`, 'token=x', { headers: form }), 'invalid_client');
        v.check(path, 'post', await http.post(`${gw()}${path}`, 'token=x', { headers: { ...form, authorization: basic(DEMO_APP.appId, 'wrong-secret') } }), 'invalid_client');
        v.check(path, 'post', await http.post(`${gw()}${path}`, 'hint=x', { headers: { ...form, authorization: demo } }), 'invalid_request');
        v.check(path, 'post', await http.post(`${gw()}${path}`, '{"token":"x"}', { headers: { 'content-type': 'application/json', authorization: demo } }), 'unsupported_media_type');
        v.check(path, 'post', await http.post(`${gw()}${path}`, `token=${'x'.repeat(9000)}`, { headers: { ...form, authorization: demo } }), 'payload_too_large');
      }
      expect(v.seen.length).to.be.greaterThan(30);
    });
  });
});
