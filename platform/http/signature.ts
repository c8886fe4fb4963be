/**
 * HTTP Message Signatures (RFC 9421) with `hmac-sha256`, and Content-Digest (RFC 9530, sha-256):
 * how a client signs its requests and how a server checks them.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseDictionary, serializeInnerList, type InnerList, type Item } from 'structured-headers';

export const SIGNATURE_ALG = 'hmac-sha256';
/** Components every signed request must cover (the broker's protocol, section 1). */
export const REQUIRED_COMPONENTS = ['@method', '@target-uri', 'content-digest', 'content-type'] as const;
const DERIVED = new Set(['@method', '@target-uri', '@authority', '@scheme', '@path', '@query']);
const MAX_SIGNATURE_HEADER = 4096;

/** Why a signature was refused; the caller maps each reason to a problem code and detail. */
export type SignatureFailure =
  | 'missing'
  | 'malformed'
  | 'components'
  | 'algorithm'
  | 'created'
  | 'expired'
  | 'digest'
  | 'mismatch';

export class SignatureError extends Error {
  constructor(readonly reason: SignatureFailure, message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

/** The `Content-Digest` value of a body: `sha-256=:<base64>:`. */
export function contentDigest(body: Uint8Array | string): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

/** Checks a `Content-Digest` header against the body; it must carry a sha-256 member. */
export function verifyContentDigest(header: string | undefined, body: Uint8Array): void {
  if (!header) throw new SignatureError('digest', 'Content-Digest is missing');
  let dict;
  try {
    dict = parseDictionary(header);
  } catch {
    throw new SignatureError('digest', 'Content-Digest is malformed');
  }
  const member = dict.get('sha-256');
  const value = member && !Array.isArray(member[0]) ? member[0] : undefined;
  if (!(value instanceof ArrayBuffer)) throw new SignatureError('digest', 'Content-Digest has no sha-256 member');
  const expected = createHash('sha256').update(body).digest();
  const got = Buffer.from(value);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new SignatureError('digest', 'Content-Digest does not match the body');
  }
}

/** What the signature base needs of a request. Header names are lowercase. */
export interface MessageView {
  method: string;
  targetUri: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface SignatureParams {
  created: number;
  keyid: string;
  nonce: string;
  alg?: string;
  expires?: number;
}

export interface ParsedSignature {
  label: string;
  components: string[];
  params: SignatureParams;
  /** The inner list with its parameters as sent in `Signature-Input`: what `@signature-params` signs. */
  paramsLine: string;
  signature: Buffer;
}

function componentValue(name: string, msg: MessageView): string {
  if (name.startsWith('@')) {
    if (name === '@method') return msg.method.toUpperCase();
    if (name === '@target-uri') return msg.targetUri;
    let url: URL;
    try {
      url = new URL(msg.targetUri);
    } catch {
      throw new SignatureError('components', 'the target URI cannot be parsed');
    }
    switch (name) {
      case '@authority': return url.host.toLowerCase();
      case '@scheme': return url.protocol.slice(0, -1).toLowerCase();
      case '@path': return url.pathname;
      case '@query': return url.search || '?';
    }
    throw new SignatureError('components', `component ${name} is not supported`);
  }
  const raw = msg.headers[name];
  if (raw === undefined) throw new SignatureError('components', `covered header ${name} is missing`);
  // RFC 9421 2.1: values trimmed, several field lines joined with ", ".
  return (Array.isArray(raw) ? raw : [raw]).map((v) => v.trim()).join(', ');
}

/** Builds the RFC 9421 signature base for covered `components`. */
export function signatureBase(components: readonly string[], msg: MessageView, paramsLine: string): string {
  const lines = components.map((c) => `"${c}": ${componentValue(c, msg)}`);
  lines.push(`"@signature-params": ${paramsLine}`);
  return lines.join('\n');
}

function hmac(secret: Uint8Array | string, base: string): Buffer {
  return createHmac('sha256', secret).update(base, 'utf8').digest();
}

function serializeParams(components: readonly string[], p: SignatureParams): string {
  const params = new Map<string, string | number>([['created', p.created], ['keyid', p.keyid], ['nonce', p.nonce], ['alg', p.alg ?? SIGNATURE_ALG]]);
  if (p.expires !== undefined) params.set('expires', p.expires);
  const list: InnerList = [components.map((c) => [c, new Map()] as Item), params];
  return serializeInnerList(list);
}

export interface SignInput {
  method: string;
  targetUri: string;
  /** Lowercase header names; `content-type` must be among them. */
  headers: Record<string, string>;
  body: Uint8Array | string;
  keyId: string;
  secret: Uint8Array | string;
  created?: number;
  nonce?: string;
  components?: readonly string[];
  label?: string;
}

/** Signs a request: returns the `content-digest`, `signature-input` and `signature` headers to add. */
export function signRequest(input: SignInput): Record<'content-digest' | 'signature-input' | 'signature', string> {
  const label = input.label ?? 'sig1';
  const components = input.components ?? REQUIRED_COMPONENTS;
  const digest = contentDigest(input.body);
  const headers = { ...input.headers, 'content-digest': digest };
  const params: SignatureParams = {
    created: input.created ?? Math.floor(Date.now() / 1000),
    keyid: input.keyId,
    nonce: input.nonce ?? randomBytes(16).toString('base64url'),
  };
  const paramsLine = serializeParams(components, params);
  const base = signatureBase(components, { method: input.method, targetUri: input.targetUri, headers }, paramsLine);
  const sig = hmac(input.secret, base).toString('base64');
  return { 'content-digest': digest, 'signature-input': `${label}=${paramsLine}`, signature: `${label}=:${sig}:` };
}

/**
 * True when a `created` or `expires` parameter is written as a decimal (`created=1700000000.0`):
 * RFC 9421 makes both integers, but structured-headers parses an sf-decimal to a number too, and
 * `1.0` to the integer 1, so the parsed value cannot tell. Read on the header text with its
 * strings blanked (a nonce may hold anything); tokens and byte sequences cannot hold `;`.
 */
function hasDecimalTimeParam(signatureInput: string): boolean {
  const outsideStrings = signatureInput.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return /;[ ]*(?:created|expires)=-?[0-9]*\./.test(outsideStrings);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

const OWS = new Set([' ', '\t']);

/**
 * Each top-level member of a structured-field dictionary as the text that was sent: key to the
 * value with its parameters (after `key=`), split at top-level commas (not inside a string or an
 * inner list), OWS around a member dropped. A key given twice keeps its last member, as the
 * dictionary parser does (RFC 8941 section 4.2.2). Only called on a header that parsed.
 */
export function rawDictionaryMembers(header: string): Map<string, string> {
  const out = new Map<string, string>();
  let start = 0;
  let inString = false;
  let depth = 0;
  const take = (end: number) => {
    let a = start;
    let b = end;
    while (a < b && OWS.has(header[a]!)) a++;
    while (b > a && OWS.has(header[b - 1]!)) b--;
    const member = header.slice(a, b);
    const eq = member.indexOf('=');
    if (eq > 0) out.set(member.slice(0, eq), member.slice(eq + 1));
  };
  for (let i = 0; i < header.length; i++) {
    const c = header[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      take(i);
      start = i + 1;
    }
  }
  take(header.length);
  return out;
}

/**
 * Parses `Signature-Input` and `Signature`, taking the first label present in both. Throws
 * SignatureError('missing' | 'malformed' | 'components' | 'algorithm').
 */
export function parseSignature(signatureInput: string | undefined, signature: string | undefined): ParsedSignature {
  if (!signatureInput || !signature) throw new SignatureError('missing', 'Signature-Input and Signature are required');
  if (signatureInput.length > MAX_SIGNATURE_HEADER || signature.length > MAX_SIGNATURE_HEADER) {
    throw new SignatureError('malformed', 'signature headers are too long');
  }
  let inputs, sigs;
  try {
    inputs = parseDictionary(signatureInput);
    sigs = parseDictionary(signature);
  } catch {
    throw new SignatureError('malformed', 'signature headers are not valid structured fields');
  }
  if (hasDecimalTimeParam(signatureInput)) throw new SignatureError('malformed', 'created and expires must be integers');
  let raw: Map<string, string> | undefined;
  for (const [label, member] of inputs) {
    const sigMember = sigs.get(label);
    if (!sigMember) continue;
    if (!Array.isArray(member[0])) throw new SignatureError('malformed', `Signature-Input ${label} is not an inner list`);
    const sigValue = sigMember[0];
    if (!(sigValue instanceof ArrayBuffer)) throw new SignatureError('malformed', `Signature ${label} is not a byte sequence`);
    const items = member[0] as Item[];
    const components: string[] = [];
    for (const [name, params] of items) {
      if (typeof name !== 'string' || params.size > 0 || name !== name.toLowerCase()) {
        throw new SignatureError('components', 'covered components must be plain lowercase names');
      }
      if (name.startsWith('@') && !DERIVED.has(name)) throw new SignatureError('components', `component ${name} is not supported`);
      if (components.includes(name)) throw new SignatureError('components', `component ${name} is covered twice`);
      components.push(name);
    }
    for (const required of REQUIRED_COMPONENTS) {
      if (!components.includes(required)) throw new SignatureError('components', `the signature must cover ${REQUIRED_COMPONENTS.join(', ')}`);
    }
    const p = member[1];
    const created = int(p.get('created'));
    const keyid = str(p.get('keyid'));
    const nonce = str(p.get('nonce'));
    const alg = p.has('alg') ? str(p.get('alg')) : SIGNATURE_ALG;
    const expires = p.has('expires') ? int(p.get('expires')) : undefined;
    if (created === undefined || !keyid || !nonce) throw new SignatureError('malformed', 'created, keyid and nonce are required');
    if (p.has('expires') && expires === undefined) throw new SignatureError('malformed', 'expires must be an integer');
    if (nonce.length < 16 || nonce.length > 128) throw new SignatureError('malformed', 'nonce must be 16 to 128 characters');
    if (alg !== SIGNATURE_ALG) throw new SignatureError('algorithm', `only ${SIGNATURE_ALG} is accepted`);
    // `@signature-params` as sent (RFC 9421 section 2.5 lets a verifier take the received value):
    // the same bytes the parameters above were parsed from, with no second serialisation.
    raw ??= rawDictionaryMembers(signatureInput);
    return {
      label,
      components,
      params: { created, keyid, nonce, alg, ...(expires !== undefined ? { expires } : {}) },
      paramsLine: raw.get(label) ?? serializeInnerList(member as InnerList),
      signature: Buffer.from(sigValue),
    };
  }
  throw new SignatureError('missing', 'no label is present in both Signature-Input and Signature');
}

/** Checks `created` (and `expires`) against `now`, both in unix seconds. */
export function checkSignatureTime(params: SignatureParams, now: number, windowSeconds: number): void {
  if (Math.abs(now - params.created) > windowSeconds) {
    throw new SignatureError('created', `created must be within ${windowSeconds} s of the server clock`);
  }
  if (params.expires !== undefined && params.expires <= now) throw new SignatureError('expired', 'the signature has expired');
}

/** Verifies the HMAC of a parsed signature over `msg` with `secret`, in constant time. */
export function verifySignature(parsed: ParsedSignature, msg: MessageView, secret: Uint8Array | string): void {
  const base = signatureBase(parsed.components, msg, parsed.paramsLine);
  const expected = hmac(secret, base);
  if (parsed.signature.length !== expected.length || !timingSafeEqual(parsed.signature, expected)) {
    throw new SignatureError('mismatch', 'the signature does not match the request');
  }
}
