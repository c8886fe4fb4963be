/**
 * Property-based tests (fast-check) for every parser and verifier that reads hostile input: the
 * RFC 9421 signature headers and Content-Digest, JWE compact, the configuration, strict JSON
 * bodies and the VT verifiers; then the three public endpoints over HTTP. Each property runs at
 * least RUNS cases; each outcome is a value or the module's one error class, never another
 * exception, and over HTTP never a 5xx and always problem+json with a known code.
 *
 * fast-check draws a fresh seed per run and prints it with any counterexample (replay with
 * `fc.assert(..., { seed, path })`). Every property also counts what ran and which outcomes it
 * reached, so a generator that stopped reaching the deep paths fails too.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import http, { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { expect } from 'chai';
import fc from 'fast-check';
import Koa from 'koa';
import { parseDictionary } from 'structured-headers';
import { ConfigError } from '../../platform/config/env.ts';
import { loadConfig } from '../../system/config.ts';
import {
  checkSignatureTime, contentDigest, parseSignature, REQUIRED_COMPONENTS, SignatureError, signRequest, verifyContentDigest, verifySignature,
  type MessageView, type ParsedSignature,
} from '../../platform/http/signature.ts';
import { parseJsonObject } from '../../platform/http/body.ts';
import {
  decryptCompact, decryptCompactAsync, encryptCompact, JweError, type DecryptOptions, type EncryptKey, type JweHeader,
} from '../../platform/crypto/jwe.ts';
import { JwsError } from '../../platform/crypto/jws.ts';
import { isProblemBody, Problem } from '../../platform/http/problem.ts';
import { signVisitToken, verifyVisitToken, type VisitTokenClaims } from '../../flows/visit-token/records.ts';
import { createVisitTokenVerifier, VisitTokenRejected } from '../../sdk/vt-verifier.ts';
import { fetchEncJwk, fullFlow, demoClient, sealEnvelope } from '../support/clients.ts';
import { connectTestRedis } from '../support/env.ts';
import { DEMO_APP, OTHER_APP, testKey, testSigningKey, useTestSystem } from '../support/system.ts';
import { loadVectors, type JweGroup } from '../support/wycheproof.ts';

/** Cases per property: at least 1,000 (more with PROPERTY_RUNS). */
const RUNS = Math.max(1000, Number(process.env.PROPERTY_RUNS) || 0);
const NOW = Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// Shared generators
// ---------------------------------------------------------------------------------------------

const B64U_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const PRINTABLE = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
/** Characters that mean something in structured fields, compact serializations or JSON. */
const SIGNIFICANT = fc.constantFrom(...'"();=,:*?@-_.\t /+%\\{}[]'.split(''), '');
/** What Node's HTTP client lets through in a header value: tab, visible ASCII, latin1. */
const HEADER_CHAR = fc.oneof(
  { weight: 3, arbitrary: PRINTABLE },
  SIGNIFICANT,
  fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
);
const headerValue = fc.string({ unit: HEADER_CHAR, maxLength: 300 });
const b64uString = (opts: { minLength?: number; maxLength?: number } = {}) => fc.string({ unit: fc.constantFrom(...B64U_ALPHABET.split('')), ...opts });

/** One edit of a string: insert, delete or replace a character, cut it, or repeat a slice. */
const stringEdit = fc.record({
  kind: fc.constantFrom('insert', 'delete', 'replace', 'truncate', 'repeat'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 12 }),
  ch: fc.oneof(SIGNIFICANT, PRINTABLE, fc.constantFrom(...B64U_ALPHABET.split(''))),
});
type StringEdit = typeof stringEdit extends fc.Arbitrary<infer T> ? T : never;

function applyEdit(s: string, e: StringEdit): string {
  const i = s.length === 0 ? 0 : e.at % (s.length + (e.kind === 'insert' ? 1 : 0));
  switch (e.kind) {
    case 'insert': return s.slice(0, i) + e.ch + s.slice(i);
    case 'delete': return s.slice(0, i) + s.slice(i + 1);
    case 'replace': return s.slice(0, i) + e.ch + s.slice(i + 1);
    case 'truncate': return s.slice(0, i);
    case 'repeat': return s.slice(0, i) + s.slice(i, i + e.len) + s.slice(i);
  }
  return s;
}

/** Runs `fn`; returns its error, or undefined when it returned. */
async function thrownBy(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

function tally(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

// ---------------------------------------------------------------------------------------------
// RFC 9421 signature headers and Content-Digest
// ---------------------------------------------------------------------------------------------

describe('properties: signature input parsing and verification (platform/http/signature.ts)', () => {
  const TARGET = 'https://gateway.example/v1/access-tokens';
  const SECRET = DEMO_APP.appSecret;
  const WINDOW = 300;

  const sfKey = fc.oneof(fc.constantFrom('sig1', 'a', 'b'), fc.stringMatching(/^[a-z*][a-z0-9_.*-]{0,8}$/));
  const sfString = fc.string({ unit: PRINTABLE, maxLength: 40 }).map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
  const sfBareItem = fc.oneof(
    fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }).map(String),
    fc.constantFrom(
      '9999999999999999', '1.5', '-0.001', '1.2345', '?0', '?1', '@1700000000', '@999999999999999', '@-999999999999999',
      '%"caf%c3%a9"', '%"bad%ff"', ':AAAA:', ':####:', 'tok', '*tok', 'hmac-sha256', '"hmac-sha256"', '"demo-app"', '"@method"', String(NOW),
    ),
    sfString,
    fc.base64String({ maxLength: 60 }).map((b) => `:${b}:`),
  );
  const param = fc
    .tuple(fc.oneof(fc.constantFrom('created', 'keyid', 'nonce', 'alg', 'expires', 'tag'), sfKey), fc.option(sfBareItem))
    .map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`));
  const component = fc.oneof(
    fc.constantFrom(
      '"@method"', '"@target-uri"', '"content-digest"', '"content-type"', '"@authority"', '"@scheme"', '"@path"', '"@query"',
      '"@request-target"', '"@status"', '"@query-param";name="a"', '"content-type";sf', '"Content-Type"', '"x-missing"', '"@METHOD"', '"x-extra"',
    ),
    sfBareItem,
  );
  const innerList = fc
    .tuple(fc.array(component, { maxLength: 8 }), fc.array(param, { maxLength: 7 }), fc.constantFrom(' ', '  '))
    .map(([c, p, sp]) => `(${c.join(sp)})${p.join('')}`);
  /** An inner list that looks right (the four components, created, keyid, nonce) with odd extras. */
  const plausibleInnerList = fc
    .tuple(
      fc.shuffledSubarray([...REQUIRED_COMPONENTS, '@authority', '@path', 'x-extra'], { minLength: 4 }),
      fc.integer({ min: NOW - 400, max: NOW + 400 }),
      fc.constantFrom('"demo-app"', '"other-app"', '"nobody"', '"demo-app"', 'demo-app'),
      fc.oneof({ weight: 3, arbitrary: b64uString({ minLength: 10, maxLength: 140 }).map((n) => `"${n}"`) }, sfBareItem),
      fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, fc.array(param, { maxLength: 2 })),
    )
    .map(([comps, created, keyid, nonce, extra]) => `(${comps.map((c) => `"${c}"`).join(' ')});created=${created};keyid=${keyid};nonce=${nonce}${extra.join('')}`);
  const member = (value: fc.Arbitrary<string>) => fc.tuple(sfKey, value).map(([k, v]) => `${k}=${v}`);
  const sigInputGrammar = fc.array(member(fc.oneof(innerList, plausibleInnerList, sfBareItem)), { minLength: 1, maxLength: 3 }).map((m) => m.join(', '));
  const sigGrammar = fc.array(member(fc.oneof({ weight: 3, arbitrary: fc.base64String({ maxLength: 60 }).map((b) => `:${b}:`) }, sfBareItem, innerList)), { minLength: 1, maxLength: 3 }).map((m) => m.join(', '));
  const headerInput = (grammar: fc.Arbitrary<string>) => fc.oneof(
    { weight: 4, arbitrary: grammar },
    { weight: 1, arbitrary: headerValue },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.tuple(grammar, fc.array(stringEdit, { minLength: 1, maxLength: 3 })).map(([s, edits]) => edits.reduce(applyEdit, s)) },
  );
  const messageView: fc.Arbitrary<MessageView> = fc.record({
    method: fc.oneof(fc.constantFrom('POST', 'post', 'GET'), fc.string({ maxLength: 8 })),
    targetUri: fc.oneof(fc.constant(TARGET), fc.constant('https://gateway.example/v1/access-tokens?x=1'), fc.string({ maxLength: 40 })),
    headers: fc.oneof(
      fc.record({ 'content-type': headerValue, 'content-digest': headerValue, 'x-extra': fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 })) }, { requiredKeys: ['content-type', 'content-digest'] }),
      fc.dictionary(
        fc.constantFrom('content-type', 'content-digest', 'x-extra', 'x-missing', 'content-type;sf'),
        fc.oneof(headerValue, fc.array(headerValue, { maxLength: 3 }), fc.constant(undefined)),
        { maxKeys: 5 },
      ),
    ),
  });

  /** Checks the parsed shape: what the gateway relies on after parseSignature returned. */
  function expectWellFormed(p: ParsedSignature): void {
    for (const c of REQUIRED_COMPONENTS) expect(p.components).to.include(c);
    expect(new Set(p.components).size).to.equal(p.components.length);
    expect(Number.isInteger(p.params.created)).to.equal(true);
    expect(p.params.keyid).to.be.a('string').and.not.equal('');
    expect(p.params.nonce.length).to.be.within(16, 128);
    expect(p.params.alg).to.equal('hmac-sha256');
    if (p.params.expires !== undefined) expect(Number.isInteger(p.params.expires)).to.equal(true);
    expect(Buffer.isBuffer(p.signature)).to.equal(true);
  }

  /** A Signature-Input and Signature that share their label, the input plausible, either one edited or not. */
  const plausiblePair = fc
    .tuple(sfKey, plausibleInnerList, fc.oneof({ weight: 4, arbitrary: fc.base64String({ maxLength: 60 }).map((b) => `:${b}:`) }, sfBareItem), fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, fc.array(stringEdit, { maxLength: 1 })), fc.boolean())
    .map(([label, list, sig, edits, editInput]) => {
      const si = `${label}=${list}`;
      const sg = `${label}=${sig}`;
      return editInput ? [edits.reduce(applyEdit, si), sg] as const : [si, edits.reduce(applyEdit, sg)] as const;
    });
  const headerPair = fc.oneof(fc.tuple(headerInput(sigInputGrammar), headerInput(sigGrammar)), { weight: 2, arbitrary: plausiblePair });

  it(`arbitrary Signature-Input, Signature and request: a parsed signature or a SignatureError, never another exception (${RUNS} cases)`, () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(headerPair, messageView, ([si, sig], msg) => {
        let parsed: ParsedSignature;
        try {
          parsed = parseSignature(si, sig);
        } catch (err) {
          expect(err).to.be.instanceOf(SignatureError);
          tally(outcomes, `parse:${(err as SignatureError).reason}`);
          return;
        }
        expectWellFormed(parsed);
        tally(outcomes, 'parsed');
        for (const step of [() => checkSignatureTime(parsed.params, NOW, WINDOW), () => verifySignature(parsed, msg, SECRET)]) {
          try {
            step();
          } catch (err) {
            expect(err).to.be.instanceOf(SignatureError);
            tally(outcomes, `check:${(err as SignatureError).reason}`);
          }
        }
      }),
      { numRuns: RUNS },
    );
    const total = [...outcomes.entries()].filter(([k]) => k.startsWith('parse:') || k === 'parsed').reduce((n, [, v]) => n + v, 0);
    expect(total).to.equal(RUNS);
    // The generators reach every layer: parse failures of several kinds, parsed signatures, and the checks after.
    for (const k of ['parse:missing', 'parse:malformed', 'parse:components', 'parsed', 'check:mismatch']) expect(outcomes.get(k) ?? 0, k).to.be.greaterThan(5);
  });

  const signedRequest = fc
    .record({
      body: fc.string({ maxLength: 200 }),
      label: fc.constantFrom('sig1', 'a', 'x-1', 'sig*2'),
      components: fc.shuffledSubarray([...REQUIRED_COMPONENTS, '@authority', '@scheme', '@path', '@query', 'x-extra'], { minLength: 4 }).filter((c) => REQUIRED_COMPONENTS.every((r) => c.includes(r))),
      created: fc.integer({ min: NOW - 400, max: NOW + 400 }),
      nonce: fc.string({ unit: PRINTABLE, minLength: 16, maxLength: 64 }),
      contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', ' text/plain '),
    })
    .map((r) => {
      const headers = { 'content-type': r.contentType, 'x-extra': 'extra value' };
      const signed = signRequest({ method: 'POST', targetUri: TARGET, headers, body: r.body, keyId: DEMO_APP.appId, secret: SECRET, created: r.created, nonce: r.nonce, components: r.components, label: r.label });
      return { ...r, signed, msg: { method: 'POST', targetUri: TARGET, headers: { ...headers, 'content-digest': signed['content-digest'] } } satisfies MessageView };
    });

  it(`a signed request with its headers edited verifies only when the edit left the same signature parameters and bytes (${RUNS} cases)`, () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(signedRequest, fc.constantFrom('signature-input', 'signature') , fc.array(stringEdit, { maxLength: 3 }), (req, which, edits) => {
        const original = parseSignature(req.signed['signature-input'], req.signed.signature);
        const headers = { ...req.signed, [which]: edits.reduce(applyEdit, req.signed[which]) };
        const unchanged = headers[which] === req.signed[which];
        let parsed: ParsedSignature;
        try {
          parsed = parseSignature(headers['signature-input'], headers.signature);
          checkSignatureTime(parsed.params, NOW, WINDOW);
          verifyContentDigest(req.msg.headers['content-digest'], Buffer.from(req.body));
          verifySignature(parsed, req.msg, SECRET);
        } catch (err) {
          expect(err).to.be.instanceOf(SignatureError);
          expect(unchanged && Math.abs(req.created - NOW) <= WINDOW, 'an unchanged request in the window verifies').to.equal(false);
          tally(outcomes, `refused:${(err as SignatureError).reason}`);
          return;
        }
        // Verified: then it says exactly what was signed (an edit that only changed the structured
        // field's spelling, such as a space after ";", is the same field).
        expect({ ...parsed, signature: parsed.signature.toString('hex') }).to.deep.equal({ ...original, signature: original.signature.toString('hex') });
        tally(outcomes, unchanged ? 'verified' : 'verified:respelled');
      }),
      { numRuns: RUNS },
    );
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).to.equal(RUNS);
    for (const k of ['verified', 'refused:mismatch', 'refused:malformed', 'refused:created']) expect(outcomes.get(k) ?? 0, k).to.be.greaterThan(5);
  });

  it(`Content-Digest: arbitrary and edited headers over arbitrary bodies pass only with the body's sha-256, else a SignatureError (${RUNS} cases)`, () => {
    const outcomes = new Map<string, number>();
    const digestKey = fc.constantFrom('sha-256', 'sha-512', 'SHA-256', 'unixsum', 'sha-256 ');
    const dictMember = fc.tuple(digestKey, fc.oneof(fc.base64String({ maxLength: 60 }).map((b) => `:${b}:`), fc.constantFrom('1', '?1', '"x"', '(:AAAA:)', 'tok'))).map(([k, v]) => `${k}=${v}`);
    const header = (body: Uint8Array) => fc.oneof(
      fc.constant(contentDigest(body)),
      fc.constant(`sha-512=:${createHash('sha512').update(body).digest('base64')}:, ${contentDigest(body)}`),
      fc.array(stringEdit, { minLength: 1, maxLength: 3 }).map((edits) => edits.reduce(applyEdit, contentDigest(body))),
      fc.array(dictMember, { minLength: 1, maxLength: 3 }).map((m) => m.join(', ')),
      headerValue,
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }).chain((body) => fc.tuple(fc.constant(body), header(body))), ([body, h]) => {
        try {
          verifyContentDigest(h, body);
        } catch (err) {
          expect(err).to.be.instanceOf(SignatureError);
          expect((err as SignatureError).reason).to.equal('digest');
          tally(outcomes, 'refused');
          return;
        }
        const member = parseDictionary(h!).get('sha-256')!;
        expect(Buffer.from(member[0] as ArrayBuffer).equals(createHash('sha256').update(body).digest())).to.equal(true);
        tally(outcomes, 'passed');
      }),
      { numRuns: RUNS },
    );
    expect((outcomes.get('passed') ?? 0) + (outcomes.get('refused') ?? 0)).to.equal(RUNS);
    expect(outcomes.get('passed') ?? 0).to.be.greaterThan(50);
    expect(outcomes.get('refused') ?? 0).to.be.greaterThan(50);
  });
});

// ---------------------------------------------------------------------------------------------
// JWE compact
// ---------------------------------------------------------------------------------------------

type Mutation =
  | { op: 'flipBit'; part: number; byte: number; bit: number }
  | { op: 'char'; part: number; edit: StringEdit }
  | { op: 'drop'; part: number }
  | { op: 'add'; index: number; segment: string }
  | { op: 'replace'; part: number; segment: string }
  | { op: 'header'; member: string; value: unknown }
  | { op: 'deleteHeader'; member: string }
  | { op: 'whole'; edit: StringEdit }
  | { op: 'respell'; part: number; spare: number };

/** Edits of a compact serialization: bits, characters, parts, and header members re-encoded. */
function mutationArb(headerMembers: fc.Arbitrary<[string, unknown]>): fc.Arbitrary<Mutation> {
  const part = fc.nat({ max: 5 });
  const segment = fc.oneof(b64uString({ maxLength: 60 }), fc.string({ maxLength: 20 }), fc.constant(''));
  return fc.oneof(
    fc.record({ op: fc.constant('flipBit' as const), part, byte: fc.nat(), bit: fc.nat({ max: 7 }) }),
    fc.record({ op: fc.constant('char' as const), part, edit: stringEdit }),
    fc.record({ op: fc.constant('drop' as const), part }),
    fc.record({ op: fc.constant('add' as const), index: fc.nat({ max: 6 }), segment }),
    fc.record({ op: fc.constant('replace' as const), part, segment }),
    headerMembers.map(([member, value]) => ({ op: 'header' as const, member, value })),
    fc.constantFrom('alg', 'enc', 'kid', 'epk', 'typ').map((member) => ({ op: 'deleteHeader' as const, member })),
    fc.record({ op: fc.constant('whole' as const), edit: stringEdit }),
    fc.record({ op: fc.constant('respell' as const), part, spare: fc.integer({ min: 1, max: 15 }) }),
  );
}

/**
 * The same bytes spelled otherwise: a base64url segment whose length is 2 or 3 mod 4 has 4 or 2
 * spare bits in its last character, which a lenient decoder ignores. Undefined when there are none.
 */
function respell(segment: string, spare: number): string | undefined {
  const bits = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0;
  const last = B64U_ALPHABET.indexOf(segment.at(-1) ?? '');
  if (bits === 0 || last < 0) return undefined;
  return segment.slice(0, -1) + B64U_ALPHABET[last ^ (spare % (1 << bits) || 1)];
}

function applyMutation(compact: string, m: Mutation): string {
  const parts = compact.split('.');
  const at = (p: number) => (parts.length === 0 ? 0 : p % parts.length);
  switch (m.op) {
    case 'flipBit': {
      const i = at(m.part);
      const bytes = Buffer.from(parts[i] ?? '', 'base64url');
      if (bytes.length === 0) parts[i] = Buffer.from([1 << m.bit]).toString('base64url');
      else {
        bytes[m.byte % bytes.length]! ^= 1 << m.bit;
        parts[i] = bytes.toString('base64url');
      }
      return parts.join('.');
    }
    case 'char': {
      const i = at(m.part);
      parts[i] = applyEdit(parts[i] ?? '', m.edit);
      return parts.join('.');
    }
    case 'drop':
      parts.splice(at(m.part), 1);
      return parts.join('.');
    case 'add':
      parts.splice(m.index % (parts.length + 1), 0, m.segment);
      return parts.join('.');
    case 'replace':
      parts[at(m.part)] = m.segment;
      return parts.join('.');
    case 'header':
    case 'deleteHeader': {
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8'));
        if (!header || typeof header !== 'object') return compact;
      } catch {
        return compact;
      }
      if (m.op === 'header') header[m.member] = m.value;
      else delete header[m.member];
      parts[0] = Buffer.from(JSON.stringify(header)).toString('base64url');
      return parts.join('.');
    }
    case 'whole':
      return applyEdit(compact, m.edit);
    case 'respell': {
      const i = at(m.part);
      parts[i] = respell(parts[i] ?? '', m.spare) ?? parts[i]!;
      return parts.join('.');
    }
  }
}

describe('properties: JWE compact (decryptCompact and decryptCompactAsync)', () => {
  const rsa = testKey('RSA-OAEP-256');
  const ec = testKey('ECDH-ES+A256KW');
  const r = randomBytes(32);
  const encKey = Buffer.from(DEMO_APP.encKey, 'base64url');
  /** auth's lookup: the key the header names by kid, only when it is for the header's alg. */
  const authKey = (h: JweHeader) => [rsa, ec].find((k) => k.kid === h.kid && k.alg === h.alg)?.privateKey;
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  const plaintext = JSON.stringify({ at: 'q8ZQp0Jx3yK2h5bH1nW4cV7mD9sF6gT0rE2aL5uI8oY', iat: NOW });

  /** One JWE of each kind the broker opens, with the options its real caller uses. */
  const bases: { name: string; jwe: string; opts: DecryptOptions }[] = [
    { name: 'RSA-OAEP-256 envelope', jwe: encryptCompact({ header: { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: rsa.kid }, plaintext, key: rsa.publicKey, cek: r }), opts: { algorithms: ['RSA-OAEP-256', 'ECDH-ES+A256KW'], key: authKey, maxLength: 8192 } },
    { name: 'ECDH-ES+A256KW envelope', jwe: encryptCompact({ header: { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: ec.kid }, plaintext, key: ec.publicKey, cek: r }), opts: { algorithms: ['RSA-OAEP-256', 'ECDH-ES+A256KW'], key: authKey, maxLength: 8192 } },
    { name: 'dir reply', jwe: encryptCompact({ header: { alg: 'dir', enc: 'A256GCM' }, plaintext, key: r }), opts: { algorithms: ['dir'], key: () => r } },
    { name: 'A256KW AT', jwe: encryptCompact({ header: { alg: 'A256KW', enc: 'A256GCM' }, plaintext, key: encKey }), opts: { algorithms: ['A256KW'], key: () => encKey } },
  ];

  const headerMember: fc.Arbitrary<[string, unknown]> = fc.oneof(
    fc.tuple(fc.constant('alg'), fc.constantFrom('RSA-OAEP-256', 'ECDH-ES+A256KW', 'A256KW', 'dir', 'RSA1_5', 'RSA-OAEP', 'none', 'ECDH-ES', 'A128KW', 42, null)),
    fc.tuple(fc.constant('enc'), fc.constantFrom('A256GCM', 'A128GCM', 'A256CBC-HS512', '', 'a256gcm')),
    fc.tuple(fc.constant('kid'), fc.oneof(fc.constantFrom(rsa.kid, ec.kid, '', 0), fc.string({ maxLength: 20 }))),
    fc.tuple(fc.constant('epk'), fc.constantFrom<unknown>(
      { kty: 'EC', crv: 'P-256', x: other.x, y: other.y },
      { kty: 'EC', crv: 'P-256', x: other.x, y: other.y, d: other.x },
      { kty: 'EC', crv: 'P-384', x: other.x, y: other.y },
      { kty: 'EC', crv: 'P-256', x: other.x.slice(2), y: other.y },
      { kty: 'EC', crv: 'P-256', x: randomBytes(32).toString('base64url'), y: randomBytes(32).toString('base64url') },
      { kty: 'EC', crv: 'P-256', x: Buffer.alloc(32).toString('base64url'), y: Buffer.alloc(32).toString('base64url') },
      'epk', null, [],
    )),
    fc.tuple(fc.constantFrom('apu', 'apv'), fc.oneof(b64uString({ maxLength: 20 }), fc.constant(7), fc.constant('a+b'))),
    fc.tuple(fc.constantFrom('typ', 'cty', 'zip', 'crit', 'jku', 'x5u', 'jwk', 'iv', 'tag', '__proto__', 'p2s'), fc.jsonValue({ maxDepth: 1 })),
  );
  const mutation = mutationArb(headerMember);

  it(`a valid JWE with its bits, characters, parts or header members changed opens only when unchanged, else the one JweError (${RUNS} cases)`, async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { maxLength: 3 }), async (which, mutations) => {
        const base = bases[which]!;
        const jwe = mutations.reduce(applyMutation, base.jwe);
        const sync = await thrownBy(() => decryptCompact(jwe, base.opts));
        const async = await thrownBy(() => decryptCompactAsync(jwe, base.opts));
        if (jwe === base.jwe) {
          expect(sync, `${base.name} unchanged (sync)`).to.equal(undefined);
          expect(async, `${base.name} unchanged (async)`).to.equal(undefined);
          expect(decryptCompact(jwe, base.opts).plaintext.toString()).to.equal(plaintext);
          expect((await decryptCompactAsync(jwe, base.opts)).plaintext.toString()).to.equal(plaintext);
          tally(outcomes, 'opened');
          return;
        }
        for (const err of [sync, async]) {
          expect(err, `${base.name} changed to ${jwe}`).to.be.instanceOf(JweError);
          expect((err as Error).message).to.equal(new JweError().message);
        }
        tally(outcomes, 'refused');
      }),
      { numRuns: RUNS },
    );
    expect((outcomes.get('opened') ?? 0) + (outcomes.get('refused') ?? 0)).to.equal(RUNS);
    expect(outcomes.get('opened') ?? 0).to.be.greaterThan(10);
  });

  it(`whatever key the caller's lookup answers with, for whatever header: the content or the one JweError, never another exception (${RUNS} cases)`, async () => {
    // A careless lookup (by kid only, or none at all) must not turn a hostile header into a crash.
    const keys: EncryptKey[] = [rsa.privateKey, rsa.publicKey, ec.privateKey, ec.publicKey, r, encKey, Buffer.alloc(16), Buffer.alloc(0)];
    const all: DecryptOptions['algorithms'] = ['RSA-OAEP-256', 'ECDH-ES+A256KW', 'A256KW', 'dir'];
    let ran = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { maxLength: 2 }), fc.nat({ max: keys.length - 1 }), async (which, mutations, k) => {
        const jwe = mutations.reduce(applyMutation, bases[which]!.jwe);
        const opts: DecryptOptions = { algorithms: all, key: () => keys[k] };
        for (const open of [() => decryptCompact(jwe, opts), () => decryptCompactAsync(jwe, opts)]) {
          const err = await thrownBy(open);
          if (err === undefined) expect((await open()).plaintext.toString()).to.equal(plaintext);
          else expect(err, `${jwe} with key ${k}`).to.be.instanceOf(JweError);
        }
        ran++;
      }),
      { numRuns: RUNS },
    );
    expect(ran).to.be.at.least(RUNS);
  });

  it(`arbitrary input (strings, five arbitrary segments, Wycheproof's JWEs, non-strings) is the one JweError (${RUNS} cases)`, async () => {
    const vectors = loadVectors<JweGroup>('json_web_encryption_test.json').testGroups.flatMap((g) => g.tests.map((t) => t.jwe));
    const header = fc.dictionary(fc.constantFrom('alg', 'enc', 'kid', 'epk', 'zip', 'x'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 5 })
      .map((h) => Buffer.from(JSON.stringify(h)).toString('base64url'));
    const input = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.tuple(fc.oneof(header, b64uString()), b64uString(), b64uString(), b64uString(), b64uString()).map((p) => p.join('.')),
      fc.constantFrom(...vectors),
      fc.string({ minLength: 8193, maxLength: 9000 }),
      fc.anything(),
    );
    let ran = 0;
    await fc.assert(
      fc.asyncProperty(input, fc.nat({ max: bases.length - 1 }), async (jwe, which) => {
        const { opts } = bases[which]!;
        expect(await thrownBy(() => decryptCompact(jwe, opts))).to.be.instanceOf(JweError);
        expect(await thrownBy(() => decryptCompactAsync(jwe, opts))).to.be.instanceOf(JweError);
        ran++;
      }),
      { numRuns: RUNS },
    );
    expect(ran).to.be.at.least(RUNS);
  });
});

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

describe('properties: configuration (loadConfig)', () => {
  const PORTS = ['GATEWAY_PORT', 'AUTH_PORT', 'H5_PORT', 'PRODUCTS_PORT', 'DEMO_PORT'];
  const NUMBERS = [
    'KEYS_POLL_SECONDS', 'AT_TTL_SECONDS', 'VT_TTL_SECONDS', 'SIGNATURE_WINDOW_SECONDS', 'UPSTREAM_TIMEOUT_MS', 'REDIS_COMMAND_TIMEOUT_MS',
    'RATE_LIMIT_ISSUANCE', 'RATE_LIMIT_EXCHANGE', 'RATE_LIMIT_PRODUCT',
    'RATE_LIMIT_ISSUANCE_WINDOW_SECONDS', 'RATE_LIMIT_EXCHANGE_WINDOW_SECONDS', 'RATE_LIMIT_PRODUCT_WINDOW_SECONDS',
  ];
  const URLS = ['GATEWAY_PUBLIC_URL', 'H5_PUBLIC_URL', 'DEMO_PUBLIC_URL', 'AUTH_URL', 'PRODUCTS_URL'];
  const OTHER = ['NODE_ENV', 'HOST', 'INTERNAL_HOST', 'CORS_ORIGINS', 'INTERNAL_TOKEN', 'TRUSTED_PROXIES', 'REDIS_URL', 'REDIS_PREFIX', 'APPS_FILE', 'AUTH_KEYS_FILE', 'KEYS_KEK', 'SIGNING_KEYS_FILE', 'DEMO_APP_ID', 'REDIS_ALLOW_EVICTION'];
  const NAMES = [...PORTS, ...NUMBERS, ...URLS, ...OTHER];

  const number = fc.oneof(
    fc.integer({ min: -10, max: 100_000 }).map(String),
    fc.constantFrom('0', '65535', '65536', '1e3', ' 80', '0x10', '99999999999999999999', '3.5', '', 'off', 'OFF', '-'),
  );
  const url = fc.oneof(
    fc.webUrl().map((u) => u.slice(0, 200)),
    fc.constantFrom('http://a', 'https://x.example/', 'https://x.example///', 'ftp://x', 'http://[::1]:80', '//x', 'not a url', 'http://', 'javascript:alert(1)', 'http://[::1', ''),
  );
  const list = (item: fc.Arbitrary<string>) => fc.tuple(fc.array(fc.oneof(item, fc.string({ maxLength: 10 })), { maxLength: 4 }), fc.constantFrom(',', ', ', ' ,')).map(([a, sep]) => a.join(sep));
  const cidr = fc.oneof(fc.ipV4(), fc.ipV6(), fc.tuple(fc.ipV4(), fc.integer({ min: -1, max: 40 })).map(([ip, n]) => `${ip}/${n}`), fc.tuple(fc.ipV6(), fc.integer({ min: -1, max: 130 })).map(([ip, n]) => `${ip}/${n}`), fc.constantFrom('10.0.0.0/8', '::1/128', '1.2.3', 'fe80::1%eth0'));
  const valueFor = (name: string): fc.Arbitrary<string> => {
    const specific =
      PORTS.includes(name) || NUMBERS.includes(name) ? number
      : URLS.includes(name) ? url
      : name === 'CORS_ORIGINS' ? list(fc.oneof(url, fc.webUrl().map((u) => new URL(u).origin)))
      : name === 'TRUSTED_PROXIES' ? list(cidr)
      : name === 'REDIS_URL' ? fc.constantFrom('redis://127.0.0.1:6379', 'rediss://r.example', 'http://r', 'redis:/x', '')
      : name === 'KEYS_KEK' ? fc.oneof(fc.uint8Array({ minLength: 30, maxLength: 34 }).map((b) => Buffer.from(b).toString('base64url')), fc.constantFrom('+/+/', '====', ''))
      : name === 'NODE_ENV' ? fc.constantFrom('production', 'development', 'test', '')
      : name === 'REDIS_ALLOW_EVICTION' ? fc.constantFrom('true', 'false', 'TRUE', '1', '')
      : name === 'INTERNAL_TOKEN' ? fc.oneof(fc.string({ minLength: 28, maxLength: 40 }), fc.constant(''))
      : fc.string({ maxLength: 20 });
    return fc.oneof({ weight: 3, arbitrary: specific }, fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }));
  };
  /** Every variable, each maybe set (mostly refused), or a few of them (often loaded). */
  const env = fc.oneof(
    fc.record(Object.fromEntries(NAMES.map((n) => [n, valueFor(n)])), { requiredKeys: [] }) as fc.Arbitrary<Record<string, string>>,
    fc.array(fc.constantFrom(...NAMES).chain((n) => fc.tuple(fc.constant(n), valueFor(n))), { maxLength: 4 }).map((e) => Object.fromEntries(e)),
  );
  const TEST_BASE = { GATEWAY_PORT: '0', AUTH_PORT: '0', H5_PORT: '0', PRODUCTS_PORT: '0', DEMO_PORT: '0' };

  it(`arbitrary environments over its real variable names: a frozen configuration or a ConfigError naming the variable (${RUNS} cases)`, () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(env, fc.boolean(), (vars, onTestPorts) => {
        let config;
        try {
          config = loadConfig(onTestPorts ? { ...TEST_BASE, ...vars } : vars);
        } catch (err) {
          expect(err, JSON.stringify(vars)).to.be.instanceOf(ConfigError);
          const variable = (err as Error).message.split(':')[0]!;
          expect(NAMES, (err as Error).message).to.include(variable);
          tally(outcomes, 'refused');
          return;
        }
        // Frozen all the way down: no part of it can be changed after the start.
        for (const part of [config, config.ports, config.urls, config.corsOrigins, config.trustedProxies, config.rateLimits]) expect(Object.isFrozen(part)).to.equal(true);
        for (const port of Object.values(config.ports)) expect(port).to.be.within(0, 65535);
        for (const u of Object.values(config.urls)) expect(() => new URL(u)).to.not.throw();
        expect(config.internalToken.length).to.be.at.least(32);
        if (config.keysKek) expect(config.keysKek).to.have.length(32);
        tally(outcomes, 'loaded');
      }),
      { numRuns: RUNS },
    );
    expect((outcomes.get('loaded') ?? 0) + (outcomes.get('refused') ?? 0)).to.equal(RUNS);
    expect(outcomes.get('loaded') ?? 0).to.be.greaterThan(50);
    expect(outcomes.get('refused') ?? 0).to.be.greaterThan(50);
  });
});

// ---------------------------------------------------------------------------------------------
// Strict JSON bodies
// ---------------------------------------------------------------------------------------------

describe('properties: strict JSON bodies (parseJsonObject)', () => {
  const app = new Koa();
  function contextWith(contentType: string | undefined, raw: Buffer) {
    const req = new IncomingMessage(new Socket());
    req.method = 'POST';
    req.url = '/';
    req.headers = { 'content-length': String(raw.length), ...(contentType === undefined ? {} : { 'content-type': contentType }) };
    return app.createContext(req, new ServerResponse(req));
  }
  const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];
  const hasForbiddenKey = (v: unknown): boolean =>
    !!v && typeof v === 'object' && Object.entries(v).some(([k, x]) => FORBIDDEN.includes(k) || hasForbiddenKey(x));

  const withForbidden = fc.tuple(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(...FORBIDDEN), fc.nat({ max: 2 }))
    .map(([v, key, depth]) => {
      let inner: unknown = { [key]: v };
      for (let i = 0; i < depth; i++) inner = { a: [inner] };
      return JSON.stringify(inner).replace(/"(?:__proto__|constructor|prototype)"/, `"${key}"`);
    });
  const body = fc.oneof(
    fc.json().map((s) => Buffer.from(s)),
    fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })).map((o) => Buffer.from(JSON.stringify(o))),
    withForbidden.map((s) => Buffer.from(s)),
    fc.string().map((s) => Buffer.from(s)),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    fc.constant(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])), // {"<invalid UTF-8>":1}
  );
  const contentType = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON') },
    fc.constantFrom('text/plain', 'application/problem+json', 'application/jsonx', 'application/*', '*/*', '', 'application/json; charset', 'application/json;;', undefined),
    headerValue,
  );

  it(`arbitrary bodies and content types: a plain JSON object without __proto__/constructor/prototype keys, or a 400/415 Problem (${RUNS} cases)`, () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(body, contentType, (raw, type) => {
        let value: Record<string, unknown>;
        try {
          value = parseJsonObject(contextWith(type, raw), raw);
        } catch (err) {
          expect(err).to.be.instanceOf(Problem);
          const p = err as Problem;
          expect(`${p.status} ${p.code}`).to.be.oneOf(['400 invalid_request', '415 unsupported_media_type']);
          tally(outcomes, p.code);
          return;
        }
        expect(value).to.be.an('object');
        expect(Array.isArray(value)).to.equal(false);
        expect(hasForbiddenKey(value)).to.equal(false);
        expect(value).to.deep.equal(JSON.parse(raw.toString('utf8')));
        tally(outcomes, 'parsed');
      }),
      { numRuns: RUNS },
    );
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).to.equal(RUNS);
    for (const k of ['parsed', 'invalid_request', 'unsupported_media_type']) expect(outcomes.get(k) ?? 0, k).to.be.greaterThan(10);
  });
});

// ---------------------------------------------------------------------------------------------
// VT verifiers
// ---------------------------------------------------------------------------------------------

describe('properties: VT verifiers (the gateway\'s verifyVisitToken and the backends\' jose verifier)', () => {
  const signing = testSigningKey();
  const ISSUER = 'https://gateway.example';
  const { vt } = signVisitToken(signing, { issuer: ISSUER, userId: 'alice', appId: DEMO_APP.appId, productId: 'city-pass', ttlSeconds: 1800 });
  const keyFor = (kid: string) => (kid === signing.kid ? signing.publicKey : undefined);
  let jwksServer: http.Server;
  let joseVerifier: ReturnType<typeof createVisitTokenVerifier>;

  before(async () => {
    jwksServer = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [signing.publicJwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    joseVerifier = createVisitTokenVerifier({ jwksUrl: `http://127.0.0.1:${port}/`, issuer: ISSUER, audience: 'city-pass', cacheSize: 0 });
  });
  after(() => {
    jwksServer.closeAllConnections();
    jwksServer.close();
  });

  const member: fc.Arbitrary<[string, unknown]> = fc.oneof(
    fc.tuple(fc.constant('alg'), fc.constantFrom('ES256', 'none', 'noNE', 'HS256', 'es256', 'ES384', null)),
    fc.tuple(fc.constant('typ'), fc.constantFrom('vt+jwt', 'JWT', 'at+jwt', 'VT+JWT', '')),
    fc.tuple(fc.constant('kid'), fc.oneof(fc.constant(signing.kid), fc.string({ maxLength: 20 }), fc.constant(1))),
    fc.tuple(fc.constantFrom('crit', 'jku', 'jwk', 'x5u', 'x5c', 'b64', 'cty', 'zip'), fc.jsonValue({ maxDepth: 1 })),
  );
  const mutation = mutationArb(member);
  /**
   * The same signed segments, and a signature spelled otherwise with the same bytes: jose's
   * verifier decodes the signature leniently (through atob it ignores base64url's spare bits,
   * skips whitespace and takes '=' padding); ours takes only the canonical spelling. Harmless for
   * jose: what is signed and the signature bytes are the same, and an ECDSA signature has a second
   * valid form anyway (s and n - s).
   */
  const sameSignedToken = (token: string, decode: (segment: string) => Buffer | undefined) => {
    const [h, p, sig] = vt.split('.');
    const [th, tp, ts, ...rest] = token.split('.');
    const bytes = ts === undefined ? undefined : decode(ts);
    return rest.length === 0 && th === h && tp === p && bytes !== undefined && bytes.equals(Buffer.from(sig!, 'base64url'));
  };
  const oursDecode = (s: string) => {
    const bytes = /^[A-Za-z0-9_-]+$/.test(s) ? Buffer.from(s, 'base64url') : undefined;
    return bytes?.toString('base64url') === s ? bytes : undefined;
  };
  const atobDecode = (s: string) => {
    try {
      return Buffer.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), 'latin1');
    } catch {
      return undefined;
    }
  };

  it(`a VT with its bits, characters, parts or header changed is accepted only when unchanged (by jose also with its signature respelled, same bytes), else JwsError / VisitTokenRejected (${RUNS} cases)`, async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { maxLength: 3 }), async (mutations) => {
        const token = mutations.reduce(applyMutation, vt);
        let ours: VisitTokenClaims | undefined;
        try {
          ours = await verifyVisitToken(token, { issuer: ISSUER, keyFor });
        } catch (err) {
          expect(err, token).to.be.instanceOf(JwsError);
        }
        let jose: VisitTokenClaims | undefined;
        try {
          jose = await joseVerifier.verify(token);
        } catch (err) {
          expect(err, token).to.be.instanceOf(VisitTokenRejected);
        }
        for (const [who, claims, decode] of [['gateway', ours, oursDecode], ['jose', jose, atobDecode]] as const) {
          if (!claims) continue;
          expect(token === vt || sameSignedToken(token, decode), `${who} accepted ${token}`).to.equal(true);
          expect(claims).to.include({ sub: 'alice', app: DEMO_APP.appId, aud: 'city-pass', iss: ISSUER });
        }
        if (token === vt) {
          expect(ours, 'unchanged VT, gateway').to.not.equal(undefined);
          expect(jose, 'unchanged VT, jose').to.not.equal(undefined);
        }
        tally(outcomes, token === vt ? 'unchanged' : ours || jose ? 'respelled' : 'refused');
      }),
      { numRuns: RUNS },
    );
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).to.equal(RUNS);
    expect(outcomes.get('unchanged') ?? 0).to.be.greaterThan(10);
    expect(outcomes.get('refused') ?? 0).to.be.greaterThan(RUNS / 2);
  });
});

// ---------------------------------------------------------------------------------------------
// Over HTTP
// ---------------------------------------------------------------------------------------------

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

describe('properties: the public endpoints over HTTP never answer 5xx, and every error is problem+json with a known code', function () {
  this.timeout(60_000);
  const suite = useTestSystem(connectTestRedis);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let gw: URL;
  let validVt: string;
  let envelopes: string[];

  before(async () => {
    gw = new URL(suite.system.urls.gateway);
    validVt = (await fullFlow(suite.system.urls.gateway)).reply.vt;
    const jwk = await fetchEncJwk(suite.system.urls.gateway);
    const client = demoClient(suite.system.urls.gateway);
    envelopes = [];
    const ats: string[] = [];
    for (let i = 0; i < 20; i++) ats.push((await client.requestAccessToken({ userId: `u${i}`, productId: 'city-pass' })).at);
    for (const at of ats) envelopes.push(sealEnvelope(jwk, at).envelope);
    // The same AT sealed again under another R: a replay once the first was used (the same
    // envelope sent again is the page's retry, and gets the same VT: decision 41).
    for (const at of ats.slice(0, 10)) envelopes.push(sealEnvelope(jwk, at).envelope);
  });
  after(() => agent.destroy());

  function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: gw.hostname, port: gw.port, method, path, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  function expectWellFormedAnswer(res: RawAnswer, what: string, codes: Map<string, number>): void {
    expect(res.status, what).to.be.below(500);
    if (res.status < 400) {
      tally(codes, String(res.status));
      return;
    }
    expect(String(res.headers['content-type']), what).to.match(/^application\/problem\+json/);
    const problem = JSON.parse(res.body.toString('utf8'));
    expect(isProblemBody(problem), `${what}: ${res.body}`).to.equal(true);
    expect(problem.status, what).to.equal(res.status);
    tally(codes, problem.code);
  }

  const extraHeaders = fc.dictionary(fc.constantFrom('x-request-id', 'x-forwarded-for', 'origin', 'accept', 'x-broker-app', 'x-broker-internal', 'cookie'), headerValue, { maxKeys: 3 });
  const jsonContentType = fc.oneof({ weight: 5, arbitrary: fc.constant('application/json') }, fc.constantFrom('text/plain', 'application/json; charset=utf-8', ''), headerValue);
  const rawBody = fc.oneof(
    fc.json({ maxDepth: 2 }).map((s) => Buffer.from(s)),
    fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.constant(Buffer.alloc(0)),
    fc.constant(Buffer.alloc(9000, 0x61)),
  );

  it(`POST /v1/access-tokens with arbitrary bodies and signature headers, signed or not (${RUNS} requests)`, async () => {
    const codes = new Map<string, number>();
    const url = `${suite.system.urls.gateway}/v1/access-tokens`;
    // Mostly well-formed, so that signed requests get past the gateway to auth's own checks.
    const atRequest = fc.record({
      userId: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('alice', 'bob') }, fc.string({ maxLength: 140 })),
      productId: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('city-pass', 'savings-plus', 'travel-insurance') }, fc.constantFrom('nope', ''), fc.string({ maxLength: 70 })),
      audience: fc.oneof({ weight: 3, arbitrary: fc.constant('https://partner.example/api') }, fc.constantFrom('http://127.0.0.1:9/x', 'https://u:p@x.example', 'ftp://x'), fc.webUrl(), fc.string({ maxLength: 30 })),
      profile: fc.oneof({ weight: 3, arbitrary: fc.constant({ displayName: 'Alice Martin' }) }, fc.dictionary(fc.string({ maxLength: 34 }), fc.string({ maxLength: 130 }), { maxKeys: 10 }), fc.jsonValue({ maxDepth: 2 })),
      attributes: fc.jsonValue({ maxDepth: 2 }),
      appId: fc.string({ maxLength: 10 }),
    }, { requiredKeys: ['userId', 'productId'] }).map((o) => Buffer.from(JSON.stringify(o)));
    const body = fc.oneof({ weight: 3, arbitrary: atRequest }, rawBody);
    const signing = fc.record({
      mode: fc.constantFrom('valid', 'valid', 'valid', 'otherApp', 'unknownApp', 'wrongSecret', 'edited', 'grammarless', 'none', 'replayedNonce'),
      edits: fc.array(stringEdit, { minLength: 1, maxLength: 2 }),
      which: fc.constantFrom('signature-input', 'signature', 'content-digest'),
      junk: fc.record({ 'signature-input': headerValue, signature: headerValue, 'content-digest': headerValue }, { requiredKeys: [] }),
    });
    await fc.assert(
      fc.asyncProperty(body, jsonContentType, signing, extraHeaders, async (raw, type, s, extra) => {
        const headers: Record<string, string> = { ...extra, 'content-type': type };
        if (s.mode !== 'none' && s.mode !== 'grammarless') {
          const app = s.mode === 'otherApp' ? OTHER_APP : DEMO_APP;
          const signed = signRequest({
            method: 'POST', targetUri: url, headers: { 'content-type': type.trim() }, body: raw, keyId: s.mode === 'unknownApp' ? 'nobody-app' : app.appId,
            secret: s.mode === 'wrongSecret' ? 'not-the-secret' : app.appSecret, ...(s.mode === 'replayedNonce' ? { nonce: 'the-same-nonce-every-time' } : {}),
          });
          Object.assign(headers, signed);
          if (s.mode === 'edited') headers[s.which] = s.edits.reduce(applyEdit, signed[s.which]);
        } else if (s.mode === 'grammarless') {
          Object.assign(headers, s.junk);
        }
        const res = await send('POST', '/v1/access-tokens', headers, raw);
        expectWellFormedAnswer(res, `${s.mode} ${JSON.stringify(headers)} ${raw.toString('latin1').slice(0, 200)}`, codes);
      }),
      { numRuns: RUNS },
    );
    expect([...codes.values()].reduce((a, b) => a + b, 0)).to.equal(RUNS);
    for (const k of ['201', 'invalid_signature', 'invalid_request', 'replayed_request', 'forbidden_product']) expect(codes.get(k) ?? 0, `${k} in ${JSON.stringify([...codes])}`).to.be.greaterThan(0);
    // An unknown keyid answers invalid_signature, as a wrong secret does: app ids cannot be enumerated.
    expect(codes.get('unknown_app') ?? 0, 'unknown_app is never answered on this route').to.equal(0);
  });

  it(`POST /v1/visit-tokens with arbitrary bodies and envelopes, edited real envelopes among them (${RUNS} requests)`, async () => {
    const codes = new Map<string, number>();
    const mutation = mutationArb(fc.tuple(fc.constantFrom('alg', 'enc', 'kid', 'epk', 'zip', 'crit'), fc.jsonValue({ maxDepth: 1 })));
    const envelope = fc.oneof(
      fc.tuple(fc.nat({ max: envelopes.length - 1 }), fc.array(mutation, { maxLength: 3 })).map(([i, ms]) => ms.reduce(applyMutation, envelopes[i]!)),
      fc.string({ maxLength: 300 }),
      fc.string({ minLength: 8190, maxLength: 8200 }),
      fc.jsonValue({ maxDepth: 1 }),
    );
    const body = fc.oneof(
      { weight: 3, arbitrary: fc.tuple(envelope, fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })).map(([e, more]) => Buffer.from(JSON.stringify({ ...more, envelope: e }))) },
      rawBody,
    );
    await fc.assert(
      fc.asyncProperty(body, jsonContentType, extraHeaders, async (raw, type, extra) => {
        const res = await send('POST', '/v1/visit-tokens', { ...extra, 'content-type': type }, raw);
        expectWellFormedAnswer(res, `${JSON.stringify(extra)} ${type} ${raw.toString('latin1').slice(0, 300)}`, codes);
      }),
      { numRuns: RUNS },
    );
    expect([...codes.values()].reduce((a, b) => a + b, 0)).to.equal(RUNS);
    for (const k of ['200', 'envelope_invalid', 'at_invalid', 'invalid_request']) expect(codes.get(k) ?? 0, `${k} in ${JSON.stringify([...codes])}`).to.be.greaterThan(0);
  });

  it(`GET /v1/products/:id with arbitrary Authorization headers and product ids, edited real VTs among them (${RUNS} requests)`, async () => {
    const codes = new Map<string, number>();
    const mutation = mutationArb(fc.tuple(fc.constantFrom('alg', 'typ', 'kid', 'crit', 'jku'), fc.jsonValue({ maxDepth: 1 })));
    const authorization = fc.oneof(
      { weight: 3, arbitrary: fc.array(mutation, { maxLength: 3 }).map((ms) => `Bearer ${ms.reduce(applyMutation, validVt)}`) },
      fc.constantFrom(`Bearer ${validVt}`, `bearer ${validVt}`, `Bearer  ${validVt}`, `Bearer ${validVt} `, 'Basic ZGVtbzpzZWNyZXQ=', 'Bearer', ''),
      headerValue,
      headerValue.map((v) => `Bearer ${v}`),
      fc.string({ minLength: 4100, maxLength: 4200, unit: fc.constantFrom('a', '.', '-') }).map((v) => `Bearer ${v}`),
    );
    const PATH_CHAR = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')) }, fc.constantFrom(...'%._~!$&\'()*+,;=:@/?#ZZ'.split(''), '%00', '%2F', '%ZZ', '%e9', '%C3%A9', '..'));
    const productId = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('city-pass', 'savings-plus', 'travel-insurance', 'unknown-product') }, fc.string({ unit: PATH_CHAR, maxLength: 80 }));
    await fc.assert(
      fc.asyncProperty(authorization, productId, extraHeaders, async (auth, id, extra) => {
        const res = await send('GET', `/v1/products/${id}`, { ...extra, ...(auth ? { authorization: auth } : {}) });
        expectWellFormedAnswer(res, `GET /v1/products/${id} ${auth.slice(0, 300)} ${JSON.stringify(extra)}`, codes);
      }),
      { numRuns: RUNS },
    );
    expect([...codes.values()].reduce((a, b) => a + b, 0)).to.equal(RUNS);
    for (const k of ['200', 'vt_invalid', 'forbidden_product']) expect(codes.get(k) ?? 0, `${k} in ${JSON.stringify([...codes])}`).to.be.greaterThan(0);
  });
});
