/**
 * The OpenAPI 3.1 description of the gateway's public endpoints, built from the problem table so
 * that every `code`, its status and its `WWW-Authenticate` value are the ones the services send.
 * The gateway serves it (`GET /openapi.json`, rendered at `GET /docs`); docs/openapi.json is this
 * document for `https://gateway.example` (written by scripts/openapi.ts, checked by a test).
 * Browser-safe: it imports only protocol/.
 */
import { PROBLEMS, PROBLEM_CODES, PROBLEM_TYPE_BASE, type ProblemCode } from './problems.ts';

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const B64U = '^[A-Za-z0-9_-]+$';
const COMPACT_JWE = '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+$';
const COMPACT_JWS = '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$';

const statusesOf = (code: ProblemCode): number[] => {
  const p: { status: number; otherStatuses?: readonly number[] } = PROBLEMS[code];
  return [p.status, ...(p.otherStatuses ?? [])];
};

const HEADERS: Record<string, Json> = {
  'Cache-Control': { description: 'Always `no-store` on token answers and problems.', schema: { type: 'string' } },
  'X-Request-Id': { description: 'The request id (a well-formed incoming one is kept); quote it when reporting a problem.', schema: { type: 'string' } },
  'Retry-After': { description: 'Whole seconds, at least 1.', schema: { type: 'string', pattern: '^[1-9][0-9]*$' } },
  'RateLimit-Policy': { description: 'draft-ietf-httpapi-ratelimit-headers: `"<policy>";q=<quota>;w=<window s>`.', schema: { type: 'string', pattern: '^"(issuance|exchange|product)";q=[0-9]+;w=[0-9]+$' } },
  RateLimit: { description: 'draft-ietf-httpapi-ratelimit-headers: `"<policy>";r=<remaining>;t=<seconds until the whole quota is back>`.', schema: { type: 'string', pattern: '^"(issuance|exchange|product)";r=[0-9]+;t=[0-9]+$' } },
};
const header = (name: string, required = false) => ({ ...HEADERS[name], ...(required && { required: true }) });

/**
 * One response per status of an operation: a problem whose `code` is one of `codes`, with the
 * 401 challenge and the `Retry-After` these codes send.
 */
function problemResponse(status: number, codes: ProblemCode[], opts: { rateLimited?: boolean } = {}): Json {
  const challenges = [...new Set(codes.map((c) => (PROBLEMS[c] as { challenge?: string }).challenge).filter((c): c is string => !!c))];
  const headers: Json = { 'Cache-Control': header('Cache-Control', true), 'X-Request-Id': header('X-Request-Id') };
  if (status === 401) headers['WWW-Authenticate'] = { description: 'The challenge of the code (problem table).', required: true, schema: { type: 'string', enum: challenges } };
  if (status === 429) headers['Retry-After'] = header('Retry-After', true);
  if (status === 503) headers['Retry-After'] = header('Retry-After');
  if (opts.rateLimited && status !== 503) {
    headers['RateLimit-Policy'] = header('RateLimit-Policy');
    headers.RateLimit = header('RateLimit');
  }
  return {
    description: codes.map((c) => `\`${c}\`: ${PROBLEMS[c].title}.`).join(' '),
    headers,
    content: {
      'application/problem+json': {
        schema: { allOf: [ref('Problem'), { properties: { status: { const: status }, code: { enum: codes } } }] },
      },
    },
  };
}

/** The error responses of an operation, from its codes: grouped by status. */
function problems(codes: ProblemCode[], opts: { rateLimited?: boolean } = {}): Json {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of codes) for (const s of statusesOf(code)) byStatus.set(s, [...(byStatus.get(s) ?? []), code]);
  const out: Json = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) out[String(status)] = problemResponse(status, list, opts);
  out.default = {
    description: 'Any other problem every route can answer: `not_found`, `method_not_allowed` (with `Allow`), `uri_too_long`, `headers_too_large`, `request_timeout`, `invalid_request` for bytes that are not HTTP, `starting` (with `Retry-After: 1`), `internal_error`.',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  };
  return out;
}

const jsonBody = (schema: Json, description?: string) => ({ required: true, ...(description && { description }), content: { 'application/json': { schema } } });
const formBody = { required: true, content: { 'application/x-www-form-urlencoded': { schema: ref('TokenForm') } } };
const ok = (description: string, schema: Json, extraHeaders: Json = {}, type = 'application/json') => ({
  description, headers: { 'Cache-Control': header('Cache-Control', true), 'X-Request-Id': header('X-Request-Id'), ...extraHeaders }, content: { [type]: { schema } },
});
const rateLimitHeaders = { 'RateLimit-Policy': header('RateLimit-Policy'), RateLimit: header('RateLimit') };

const signatureParameters = [
  { name: 'Signature-Input', in: 'header', required: true, description: 'RFC 9421: `sig1=("@method" "@target-uri" "content-digest" "content-type");created=<unix s>;keyid="<appId>";nonce="<16-128 chars>";alg="hmac-sha256"`.', schema: { type: 'string', maxLength: 4096 } },
  { name: 'Signature', in: 'header', required: true, description: 'RFC 9421: `sig1=:<standard base64 (padded) of HMAC-SHA256(UTF-8 of appSecret, signature base)>:`.', schema: { type: 'string', maxLength: 4096 } },
  { name: 'Content-Digest', in: 'header', required: true, description: 'RFC 9530: `sha-256=:<standard base64 (padded) of SHA-256(body)>:`.', schema: { type: 'string' } },
];

const SCHEMAS: Record<string, Json> = {
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details. Program against `code` and the status; `detail` is text for people.',
    required: ['type', 'title', 'status', 'detail', 'code'],
    properties: {
      type: { type: 'string', description: `\`${PROBLEM_TYPE_BASE}<code>\``, pattern: `^${PROBLEM_TYPE_BASE.replace(/[.]/g, '\\.')}[a-z_]+$` },
      title: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string' },
      code: { type: 'string', enum: PROBLEM_CODES },
      checks: { type: 'object', description: 'Readiness answers only: what failed.', additionalProperties: { type: 'string', enum: ['ok', 'unavailable'] } },
    },
    'x-problem-codes': Object.fromEntries(PROBLEM_CODES.map((c) => [c, { status: statusesOf(c), title: PROBLEMS[c].title, ...((PROBLEMS[c] as { challenge?: string }).challenge && { 'WWW-Authenticate': (PROBLEMS[c] as { challenge?: string }).challenge }) }])),
  },
  AccessTokenRequest: {
    type: 'object',
    required: ['userId', 'productId'],
    description: 'At most 4096 bytes. Other members are ignored. Signed (RFC 9421); see docs/protocol.md section 1.',
    properties: {
      userId: { type: 'string', pattern: '^[\\x21-\\x7e]{1,128}$', description: '1-128 visible ASCII characters.' },
      productId: { type: 'string', pattern: '^[a-z0-9-]{1,64}$', description: 'A product the app may open.' },
      audience: { type: 'string', maxLength: 256, description: 'An external server the VT is also for: an absolute https URL as the URL standard serialises it, registered for the app.' },
      profile: {
        type: 'object', maxProperties: 8,
        propertyNames: { pattern: '^[a-zA-Z][a-zA-Z0-9_]{0,31}$', not: { enum: ['constructor', 'prototype'] } },
        additionalProperties: { type: 'string', minLength: 1, maxLength: 128 },
        description: 'At most 1024 bytes as JSON; values without control, bidi or zero-width characters.',
      },
    },
  },
  AccessTokenResponse: {
    type: 'object', required: ['accessToken', 'expiresIn'], additionalProperties: false,
    properties: {
      accessToken: { type: 'string', pattern: COMPACT_JWE, description: 'The sealed AT: a JWE (`A256KW` under the app\'s encKey, or `RSA-OAEP-256` to its RSA key) whose plaintext is `{"at", "productId", "userId", "exp", "audience"?}`.' },
      expiresIn: { type: 'integer', minimum: 1, description: 'Seconds the AT lives (300 by default).' },
    },
  },
  SealedAccessTokenPlaintext: {
    type: 'object', required: ['at', 'productId', 'userId', 'exp'], additionalProperties: false,
    description: 'The plaintext of `accessToken`, once the app opened it.',
    properties: { at: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' }, productId: { type: 'string' }, userId: { type: 'string' }, exp: { type: 'integer' }, audience: { type: 'string' } },
  },
  VisitTokenRequest: {
    type: 'object', required: ['envelope'],
    properties: {
      envelope: { type: 'string', maxLength: 8192, pattern: COMPACT_JWE, description: 'JWE (`RSA-OAEP-256` or `ECDH-ES+A256KW`, `A256GCM`) with CEK R and plaintext `{"at": "<AT>", "iat": <positive integer>}`, optionally with `"jwk"` (an EnvelopePlaintext).' },
      include: { type: 'string', enum: ['product'], description: 'Asks for the product document of the VT\'s product in the same answer (`product`); any other value is `invalid_request`, and the AT is not spent.' },
    },
  },
  EnvelopePlaintext: {
    type: 'object', required: ['at', 'iat'], additionalProperties: false,
    properties: {
      at: { type: 'string' }, iat: { type: 'integer', minimum: 1 },
      jwk: {
        type: 'object', required: ['kty', 'crv', 'x', 'y'], additionalProperties: false, description: 'The page\'s P-256 public key: the VT is then bound to it (`cnf.jkt`) and used with DPoP proofs.',
        properties: { kty: { const: 'EC' }, crv: { const: 'P-256' }, x: { type: 'string' }, y: { type: 'string' } },
      },
    },
  },
  VisitTokenResponse: {
    type: 'object', required: ['envelope'], additionalProperties: false,
    properties: {
      envelope: { type: 'string', pattern: COMPACT_JWE, description: 'JWE `{"alg":"dir","enc":"A256GCM"}` under R; its plaintext is a ReplyPlaintext.' },
      product: { type: 'object', additionalProperties: true, description: 'With `include: "product"`: the VT\'s product document, as `GET /v1/products/{productId}` answers it with that VT. Absent when it could not be had (the page then asks for it).' },
    },
  },
  ReplyPlaintext: {
    type: 'object', required: ['vt', 'expiresIn', 'productId', 'userId'], additionalProperties: false,
    properties: { vt: { type: 'string', pattern: COMPACT_JWS }, expiresIn: { type: 'integer', minimum: 1 }, productId: { type: 'string' }, userId: { type: 'string' } },
  },
  VisitTokenClaims: {
    type: 'object', required: ['iss', 'sub', 'app', 'aud', 'iat', 'exp', 'jti'],
    description: 'The VT (JWS, header exactly `{"alg":"ES256","typ":"vt+jwt","kid"}`) claims.',
    properties: {
      iss: { type: 'string' }, sub: { type: 'string' }, app: { type: 'string' },
      aud: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 }] },
      iat: { type: 'integer' }, exp: { type: 'integer' }, jti: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' },
      profile: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
  SampleProduct: {
    type: 'object',
    description: "The product backend's answer, passed on unchanged (a JSON object; its members are the product's). This is the sample backend's (h5/app.ts).",
    required: ['id', 'name', 'viewer'],
    properties: {
      id: { type: 'string' }, name: { type: 'string' }, tagline: { type: 'string' }, category: { type: 'string' },
      price: { type: 'object', required: ['amount', 'currency', 'period'], properties: { amount: { type: 'string' }, currency: { type: 'string' }, period: { type: 'string' } } },
      highlights: { type: 'array', items: { type: 'object', required: ['title', 'text'], properties: { title: { type: 'string' }, text: { type: 'string' } } } },
      description: { type: 'array', items: { type: 'string' } },
      terms: { type: 'string' }, accent: { type: 'string' },
      lang: { type: 'string', description: 'BCP 47 language of the content.' }, dir: { enum: ['ltr', 'rtl'] },
      locale: { type: 'string', description: 'The locale prices are formatted in.' },
      headline: { type: 'object', properties: { value: { type: 'string' }, label: { type: 'string' } } },
      cta: { type: 'string' }, ctaDone: { type: 'string' }, provider: { type: 'string' },
      labels: { type: 'object', additionalProperties: { type: 'string' }, description: "The page's words in the content's language." },
      image: { type: 'string', description: 'A path on the H5 server.' },
      legal: { type: 'array', items: { type: 'object', required: ['title', 'href'], properties: { title: { type: 'string' }, href: { type: 'string' } } } },
      secondFactorActions: {
        type: 'array', description: 'Actions that need the second factor (docs/protocol.md, the binding flow).',
        items: { type: 'object', required: ['id', 'label'], properties: { id: { type: 'string' }, label: { type: 'string' } } },
      },
      viewer: {
        type: 'object', required: ['userId', 'appId'], additionalProperties: false,
        properties: {
          userId: { type: 'string' }, appId: { type: 'string' },
          displayName: { type: 'string', description: "The VT's `profile.displayName`, when it has one." },
          appName: { type: 'string', description: "The registered app's `name`." },
        },
      },
    },
  },
  TokenForm: {
    type: 'object', required: ['token'],
    properties: { token: { type: 'string' }, token_type_hint: { type: 'string', description: 'Ignored.' } },
  },
  Introspection: {
    oneOf: [
      { type: 'object', required: ['active'], additionalProperties: false, properties: { active: { const: false } } },
      {
        type: 'object', additionalProperties: false,
        required: ['active', 'iss', 'sub', 'app', 'aud', 'iat', 'exp', 'jti', 'token_type'],
        properties: {
          active: { const: true }, iss: { type: 'string' }, sub: { type: 'string' }, app: { type: 'string' },
          aud: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
          iat: { type: 'integer' }, exp: { type: 'integer' }, jti: { type: 'string' },
          profile: { type: 'object', additionalProperties: { type: 'string' } },
          token_type: { const: 'vt+jwt' },
        },
      },
    ],
  },
  Jwks: {
    type: 'object', required: ['keys'], additionalProperties: false,
    properties: {
      keys: {
        type: 'array',
        items: {
          oneOf: [
            { type: 'object', additionalProperties: false, required: ['kty', 'n', 'e', 'kid', 'use', 'alg'], properties: { kty: { const: 'RSA' }, n: { type: 'string', pattern: B64U }, e: { type: 'string', pattern: B64U }, kid: { type: 'string' }, use: { const: 'enc' }, alg: { const: 'RSA-OAEP-256' } } },
            { type: 'object', additionalProperties: false, required: ['kty', 'crv', 'x', 'y', 'kid', 'use', 'alg'], properties: { kty: { const: 'EC' }, crv: { const: 'P-256' }, x: { type: 'string', pattern: B64U }, y: { type: 'string', pattern: B64U }, kid: { type: 'string' }, use: { const: 'enc' }, alg: { const: 'ECDH-ES+A256KW' } } },
            { type: 'object', additionalProperties: false, required: ['kty', 'crv', 'x', 'y', 'kid', 'use', 'alg'], properties: { kty: { const: 'EC' }, crv: { const: 'P-256' }, x: { type: 'string', pattern: B64U }, y: { type: 'string', pattern: B64U }, kid: { type: 'string' }, use: { const: 'sig' }, alg: { const: 'ES256' } } },
            { type: 'object', additionalProperties: false, required: ['kty', 'crv', 'x', 'kid', 'use', 'alg'], properties: { kty: { const: 'OKP' }, crv: { const: 'X25519' }, x: { type: 'string', pattern: B64U }, kid: { type: 'string' }, use: { const: 'enc' }, alg: { const: 'ECDH-ES+A256KW' } } },
          ],
        },
      },
    },
  },
  Health: { type: 'object', required: ['status'], additionalProperties: false, properties: { status: { const: 'ok' } } },
  Ready: {
    type: 'object', required: ['status', 'checks'], additionalProperties: false,
    properties: { status: { const: 'ok' }, checks: { type: 'object', required: ['store', 'auth'], properties: { store: { const: 'ok' }, auth: { const: 'ok' } } } },
  },
};

/** The OpenAPI 3.1 document for a gateway at `serverUrl` (its GATEWAY_PUBLIC_URL). */
export function buildOpenApi(serverUrl: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'H5 access broker: gateway',
      version: '1.0.0',
      description: 'The public endpoints of the broker (docs/protocol.md is the contract; docs/errors.md explains every code). Every error is `application/problem+json` with a stable `code`.',
    },
    servers: [{ url: serverUrl }],
    paths: {
      '/v1/access-tokens': {
        post: {
          operationId: 'issueAccessToken', summary: 'Issue an AT (third-party backend, signed)',
          description: 'Signed with HTTP Message Signatures (RFC 9421, hmac-sha256) over `@method`, `@target-uri`, `content-digest`, `content-type`; the HMAC key is the UTF-8 bytes of the app secret; `@target-uri` is GATEWAY_PUBLIC_URL followed by the path and query. No CORS. Limited per app (`issuance`).',
          security: [{ httpSignature: [] }],
          parameters: signatureParameters,
          requestBody: jsonBody(ref('AccessTokenRequest')),
          responses: {
            201: ok('The sealed AT.', ref('AccessTokenResponse'), rateLimitHeaders),
            ...problems(['invalid_request', 'invalid_signature', 'replayed_request', 'unknown_app', 'forbidden_product', 'untrusted_network', 'payload_too_large', 'unsupported_media_type', 'rate_limited', 'store_unavailable', 'upstream_unavailable', 'internal_error'], { rateLimited: true }),
          },
        },
      },
      '/v1/visit-tokens': {
        post: {
          operationId: 'exchangeVisitToken', summary: 'Exchange an envelope for a VT (the H5 page)',
          description: 'The page seals the AT under R (the CEK it chose) to a `use: "enc"` key of the JWKS; the answer is sealed under the same R. Limited per client address (`exchange`), before anything else. With `include: "product"` the answer also carries the product document of the VT\'s product (`product`), fetched by the gateway with the VT just issued, only for the exchange that spent the AT (never on a retry with the same R), counted against the VT\'s `product` limit, waited for at most 2 s, and left out on any failure. CORS for the H5 origins.',
          requestBody: jsonBody(ref('VisitTokenRequest'), 'At most 8448 bytes.'),
          responses: {
            200: ok('The reply under R.', ref('VisitTokenResponse'), rateLimitHeaders),
            ...problems(['invalid_request', 'envelope_invalid', 'at_invalid', 'payload_too_large', 'unsupported_media_type', 'rate_limited', 'store_unavailable', 'upstream_unavailable', 'internal_error'], { rateLimited: true }),
          },
        },
      },
      '/v1/products/{productId}': {
        get: {
          operationId: 'callProduct', summary: 'Call a product API with the VT (the H5 page)',
          description: 'Checks in this order: the VT as `Authorization: Bearer <VT>` or, for a VT bound to a key (`cnf.jkt`), `Authorization: DPoP <VT>` (schemes case-insensitive), its signature and claims (`vt_invalid`), the VT\'s rate limit (`product`), for a bound VT the `DPoP` proof of its key for this request, spent once (`dpop_invalid`), its liveness (`vt_invalid`), that `aud` names the product (`forbidden_product`); then the product backend answers. CORS for the H5 origins.',
          security: [{ visitToken: [] }, { dpopVisitToken: [] }],
          parameters: [
            { name: 'productId', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'DPoP', in: 'header', required: false, schema: { type: 'string', maxLength: 2048 }, description: 'RFC 9449 proof (`typ: dpop+jwt`, ES256, `jwk`; `jti`, `htm`, `htu`, `iat`, `ath`) for a VT bound to a key; required with the `DPoP` scheme.' },
          ],
          responses: {
            200: ok("The product backend's JSON object, passed on unchanged.", ref('SampleProduct'), rateLimitHeaders),
            ...problems(['vt_invalid', 'dpop_invalid', 'forbidden_product', 'unknown_product', 'rate_limited', 'store_unavailable', 'upstream_unavailable', 'internal_error'], { rateLimited: true }),
          },
        },
      },
      '/v1/introspect': {
        post: {
          operationId: 'introspect', summary: 'RFC 7662 introspection of a VT (registered app or product backend)',
          description: 'HTTP Basic with `urlencode(id):urlencode(secret)` (RFC 6749 §2.3.1), scheme case-insensitive. `{"active": false}` for every token the client may not see. No CORS.',
          security: [{ clientBasic: [] }],
          requestBody: formBody,
          responses: {
            200: ok('The token\'s state.', ref('Introspection')),
            ...problems(['invalid_request', 'invalid_client', 'payload_too_large', 'unsupported_media_type', 'store_unavailable', 'internal_error']),
          },
        },
      },
      '/v1/revoke': {
        post: {
          operationId: 'revoke', summary: 'RFC 7009 revocation of a VT (registered app or product backend)',
          description: 'As introspection. `200` with an empty body (no `Content-Type`) in every case, also for a token the client may not see.',
          security: [{ clientBasic: [] }],
          requestBody: formBody,
          responses: {
            200: { description: 'Empty.', headers: { 'Cache-Control': header('Cache-Control', true), 'X-Request-Id': header('X-Request-Id') } },
            ...problems(['invalid_request', 'invalid_client', 'payload_too_large', 'unsupported_media_type', 'store_unavailable', 'internal_error']),
          },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          operationId: 'jwks', summary: 'The JWKS: two encryption keys (envelopes) and the VT signing keys',
          description: 'Served by the gateway (`<GATEWAY_PUBLIC_URL>/.well-known/jwks.json`), `Cache-Control: public, max-age=300`, CORS for the H5 origins. Pick keys by `kid` and `alg`.',
          responses: {
            200: { description: 'The key set.', content: { 'application/jwk-set+json': { schema: ref('Jwks') } } },
            ...problems(['upstream_unavailable']),
          },
        },
      },
      '/healthz': { get: { operationId: 'healthz', summary: 'Liveness', responses: { 200: { description: 'The process runs.', content: { 'application/json': { schema: ref('Health') } } }, ...problems([]) } } },
      '/readyz': {
        get: {
          operationId: 'readyz', summary: 'Readiness: the store and auth answer',
          responses: { 200: { description: 'Ready.', content: { 'application/json': { schema: ref('Ready') } } }, ...problems(['store_unavailable', 'upstream_unavailable']) },
        },
      },
      '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1.', content: { 'application/json': { schema: { type: 'object' } } } } } } },
      '/docs': { get: { operationId: 'docs', summary: 'This document as an HTML page', responses: { 200: { description: 'HTML.', content: { 'text/html': { schema: { type: 'string' } } } } } } },
    },
    components: {
      schemas: SCHEMAS,
      securitySchemes: {
        httpSignature: {
          type: 'apiKey', in: 'header', name: 'Signature',
          description: 'HTTP Message Signatures (RFC 9421) with `hmac-sha256` keyed by the UTF-8 bytes of the app secret, with `Signature-Input` and `Content-Digest` (RFC 9530). Refusals carry `WWW-Authenticate: Signature realm="h5-broker"`. OpenAPI has no scheme type for RFC 9421; see docs/protocol.md section 1 and docs/signing-guide.md.',
        },
        visitToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (ES256, typ vt+jwt)', description: 'The VT bound to nothing. Refusals carry `WWW-Authenticate: Bearer realm="h5-broker", error="invalid_token"`.' },
        dpopVisitToken: { type: 'http', scheme: 'dpop', description: 'A VT bound to the page\'s key (`cnf.jkt`): `Authorization: DPoP <VT>` with a `DPoP` proof header (RFC 9449), on every route that takes the page\'s VT. Refusals of the proof carry `WWW-Authenticate: DPoP realm="h5-broker", error="invalid_dpop_proof", algs="ES256"`.' },
        clientBasic: { type: 'http', scheme: 'basic', description: 'App id and secret, or a product backend\'s client id and secret, each form-urlencoded first. Refusals carry `WWW-Authenticate: Basic realm="h5-broker", charset="UTF-8"`.' },
      },
    },
  };
}
