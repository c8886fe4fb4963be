/**
 * The registry of third-party apps: who may sign requests, how their ATs are encrypted back to
 * them, which products they may open, which origins may frame the H5 pages for them, and from
 * which networks (and through which edge header) they may ask for ATs, and which external servers
 * their VTs may be bound to. Beside the apps, the product backends that may introspect and revoke
 * the VTs of their products (`backends`).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { audienceProblem } from './audience.ts';
import { createNetworkList, type NetworkList } from '../../platform/net/client-address.ts';
import { isClaimName } from './profile.ts';
import { isRateLimitRule, MAX_RATE_LIMIT, MAX_RATE_WINDOW_SECONDS, type RateLimitRule } from '../rate-limit/limiter.ts';

export interface AppEntry {
  appId: string;
  name: string;
  /** HMAC key of the app's request signatures. */
  appSecret: string;
  /** 256-bit key the AT JWE is wrapped under (A256KW); absent when `publicKey` is used. */
  encKey?: Buffer;
  /** RSA public key the AT JWE is encrypted to (RSA-OAEP-256), instead of `encKey`. */
  publicKey?: KeyObject;
  products: readonly string[];
  /** Origins that may frame the H5 pages (the app's WebView host page, or the demo). */
  allowedOrigins: readonly string[];
  /** Networks AT issuance is allowed from; absent: any network. */
  trustedNetworks?: NetworkList;
  /** A header a trusted edge proxy sets, required for AT issuance and copied into the AT as `claim`. */
  requiredHeader?: RequiredHeader;
  /**
   * External servers a VT of this app may be bound to (the AT request's `audience`); absent: none.
   * Each URL belongs to this app alone: no other app in the registry may list it.
   */
  audiences?: readonly string[];
  /**
   * This app's own AT issuance limit instead of `RATE_LIMIT_ISSUANCE` (`null`: none for this app);
   * absent: the configured one.
   */
  rateLimit?: RateLimitRule | null;
  /**
   * Secrets that still verify until their `notAfter` (unix seconds) after a rotation (`npm run
   * admin -- rotate-secret`), beside `appSecret`; absent: none.
   */
  previousSecrets?: readonly PreviousSecret[];
}

/** An app secret replaced by a rotation, still good until `notAfter` (unix seconds). */
export interface PreviousSecret {
  secret: string;
  notAfter: number;
}

/**
 * The secrets that verify for `app` at `now`: its `appSecret`, then those of its `previousSecrets`
 * whose overlap window is still open.
 */
export function secretsOf(app: AppEntry, now: number): string[] {
  return [app.appSecret, ...(app.previousSecrets ?? []).filter((p) => p.notAfter > now).map((p) => p.secret)];
}

/** `{ "name": "x-operator-subscriber-id", "claim": "subscriber" }` in the registry. */
export interface RequiredHeader {
  /** Header name, lower case. */
  name: string;
  /** The attribute the value is carried under (the AT request's `attributes`, later the token). */
  claim: string;
}

/**
 * A product backend registered as a client of introspection and revocation (HTTP Basic
 * `clientId:clientSecret`): it may see and revoke the VTs whose `aud` names one of its products.
 */
export interface BackendEntry {
  clientId: string;
  clientSecret: string;
  products: readonly string[];
}

export interface AppRegistry {
  get(appId: string): AppEntry | undefined;
  all(): readonly AppEntry[];
  /** The product backend registered under `clientId`; ids never collide with app ids. */
  backend(clientId: string): BackendEntry | undefined;
  backends(): readonly BackendEntry[];
}

const APP_ID_RE = /^[A-Za-z0-9._-]{3,64}$/;
const PRODUCT_ID_RE = /^[a-z0-9-]{1,64}$/;
/** An RFC 9110 field name (a token). */
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
/**
 * Headers a third party or the broker itself sets, or that proxies rewrite: none of them can stand
 * for an operator's verdict on the request.
 */
const RESERVED_HEADERS = new Set([
  'host', 'content-type', 'content-length', 'content-digest', 'signature', 'signature-input', 'authorization',
  'cookie', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'x-request-id',
  'x-broker-internal', 'x-broker-app', 'x-broker-user', 'x-broker-product', 'connection', 'transfer-encoding', 'te', 'upgrade',
]);

export class RegistryError extends Error {
  constructor(where: string, problem: string) {
    super(`app registry ${where}: ${problem}`);
    this.name = 'RegistryError';
  }
}

function parseEntry(raw: unknown, i: number): AppEntry {
  const at = `apps[${i}]`;
  if (!raw || typeof raw !== 'object') throw new RegistryError(at, 'must be an object');
  const r = raw as Record<string, unknown>;
  if (typeof r.appId !== 'string' || !APP_ID_RE.test(r.appId)) throw new RegistryError(at, 'appId must be 3-64 of A-Z a-z 0-9 . _ -');
  const where = `app ${r.appId}`;
  if (typeof r.appSecret !== 'string' || r.appSecret.length < 32) throw new RegistryError(where, 'appSecret must be at least 32 characters');
  let encKey: Buffer | undefined;
  let publicKey: KeyObject | undefined;
  if (r.encKey !== undefined) {
    if (typeof r.encKey !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(r.encKey)) throw new RegistryError(where, 'encKey must be 32 bytes, base64url');
    encKey = Buffer.from(r.encKey, 'base64url');
  }
  if (r.publicJwk !== undefined) {
    try {
      publicKey = createPublicKey({ key: r.publicJwk as any, format: 'jwk' });
    } catch {
      throw new RegistryError(where, 'publicJwk is not a valid public JWK');
    }
    if (publicKey.asymmetricKeyType !== 'rsa' || (publicKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      throw new RegistryError(where, 'publicJwk must be an RSA key of at least 2048 bits');
    }
  }
  if (!encKey === !publicKey) throw new RegistryError(where, 'exactly one of encKey and publicJwk is required');
  if (!Array.isArray(r.products) || r.products.length === 0 || !r.products.every((p) => typeof p === 'string' && PRODUCT_ID_RE.test(p))) {
    throw new RegistryError(where, 'products must be a non-empty list of product ids');
  }
  const origins = r.allowedOrigins ?? [];
  if (!Array.isArray(origins) || !origins.every((o) => typeof o === 'string' && safeOrigin(o) === o)) {
    throw new RegistryError(where, 'allowedOrigins must be a list of origins like https://app.example.com');
  }
  let trustedNetworks: NetworkList | undefined;
  if (r.trustedNetworks !== undefined) {
    const cidrs = r.trustedNetworks;
    if (!Array.isArray(cidrs) || cidrs.length === 0 || !cidrs.every((c) => typeof c === 'string')) {
      throw new RegistryError(where, 'trustedNetworks must be a non-empty list of CIDR ranges like "10.0.0.0/8" or "2001:db8::/32" (leave it out to allow any network)');
    }
    try {
      trustedNetworks = createNetworkList(cidrs as string[]);
    } catch (err) {
      throw new RegistryError(where, `trustedNetworks: ${(err as Error).message}`);
    }
  }
  let requiredHeader: RequiredHeader | undefined;
  if (r.requiredHeader !== undefined) {
    const h = r.requiredHeader as Record<string, unknown> | null;
    if (!h || typeof h !== 'object' || Array.isArray(h) || typeof h.name !== 'string' || typeof h.claim !== 'string') {
      throw new RegistryError(where, 'requiredHeader must be {"name": "<header>", "claim": "<attribute>"}');
    }
    const extra = Object.keys(h).filter((k) => k !== 'name' && k !== 'claim');
    if (extra.length) throw new RegistryError(where, `requiredHeader has unknown members: ${extra.join(', ')}`);
    const name = h.name.toLowerCase();
    if (!HEADER_NAME_RE.test(name)) throw new RegistryError(where, `requiredHeader.name "${h.name}" is not a header name`);
    if (RESERVED_HEADERS.has(name)) throw new RegistryError(where, `requiredHeader.name "${h.name}" is a header clients or the broker set; name the header your edge proxy sets`);
    if (!isClaimName(h.claim)) {
      throw new RegistryError(where, 'requiredHeader.claim must be 1-32 of A-Z a-z 0-9 _, starting with a letter (not "constructor" or "prototype")');
    }
    requiredHeader = Object.freeze({ name, claim: h.claim });
  }
  let audiences: readonly string[] | undefined;
  if (r.audiences !== undefined) {
    const list = r.audiences;
    if (!Array.isArray(list) || list.length === 0) {
      throw new RegistryError(where, 'audiences must be a non-empty list of URLs like "https://partner.example/api" (leave it out to allow none)');
    }
    for (const a of list) {
      // Loopback http is allowed here; auth refuses it per request in production.
      const problem = audienceProblem(a, { allowLoopbackHttp: true });
      if (problem) throw new RegistryError(where, `audiences: ${String(JSON.stringify(a)).slice(0, 80)} ${problem}`);
    }
    audiences = Object.freeze([...(list as string[])]);
  }
  let rateLimit: AppEntry['rateLimit'];
  if (r.rateLimit !== undefined) {
    const l = r.rateLimit;
    if (l === null || JSON.stringify(l) === '{"limit":0}') {
      rateLimit = null;
    } else if (isRateLimitRule(l)) {
      rateLimit = Object.freeze({ limit: l.limit, windowSeconds: l.windowSeconds });
    } else {
      throw new RegistryError(where, `rateLimit must be {"limit": 1-${MAX_RATE_LIMIT}, "windowSeconds": 1-${MAX_RATE_WINDOW_SECONDS}}, or {"limit": 0} or null for no limit on this app (leave it out for RATE_LIMIT_ISSUANCE)`);
    }
  }
  let previousSecrets: PreviousSecret[] | undefined;
  if (r.previousSecrets !== undefined) {
    const list = r.previousSecrets;
    const ok = Array.isArray(list) && list.every((p) => p && typeof p === 'object' && !Array.isArray(p)
      && Object.keys(p).every((k) => k === 'secret' || k === 'notAfter')
      && typeof p.secret === 'string' && p.secret.length >= 32 && Number.isSafeInteger(p.notAfter) && p.notAfter > 0);
    if (!ok) throw new RegistryError(where, 'previousSecrets must be a list of {"secret": "<at least 32 characters>", "notAfter": <unix s>}');
    previousSecrets = (list as PreviousSecret[]).map((p) => Object.freeze({ secret: p.secret, notAfter: p.notAfter }));
  }
  if (r.disabled !== undefined && typeof r.disabled !== 'boolean') throw new RegistryError(where, 'disabled must be true or false');
  return {
    appId: r.appId,
    name: typeof r.name === 'string' ? r.name : r.appId,
    appSecret: r.appSecret,
    encKey,
    publicKey,
    products: Object.freeze([...(r.products as string[])]),
    allowedOrigins: Object.freeze([...(origins as string[])]),
    trustedNetworks,
    requiredHeader,
    audiences,
    ...(rateLimit !== undefined && { rateLimit }),
    ...(previousSecrets && { previousSecrets: Object.freeze(previousSecrets) }),
  };
}

function parseBackend(raw: unknown, i: number): BackendEntry {
  const at = `backends[${i}]`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new RegistryError(at, 'must be an object');
  const r = raw as Record<string, unknown>;
  if (typeof r.clientId !== 'string' || !APP_ID_RE.test(r.clientId)) throw new RegistryError(at, 'clientId must be 3-64 of A-Z a-z 0-9 . _ -');
  const where = `backend ${r.clientId}`;
  const extra = Object.keys(r).filter((k) => k !== 'clientId' && k !== 'clientSecret' && k !== 'products');
  if (extra.length) throw new RegistryError(where, `has unknown members: ${extra.join(', ')}`);
  if (typeof r.clientSecret !== 'string' || r.clientSecret.length < 32) throw new RegistryError(where, 'clientSecret must be at least 32 characters');
  if (!Array.isArray(r.products) || r.products.length === 0 || !r.products.every((p) => typeof p === 'string' && PRODUCT_ID_RE.test(p))) {
    throw new RegistryError(where, 'products must be a non-empty list of product ids (the VT audiences this backend may introspect and revoke)');
  }
  return Object.freeze({ clientId: r.clientId, clientSecret: r.clientSecret, products: Object.freeze([...new Set(r.products as string[])]) });
}

function safeOrigin(o: string): string | undefined {
  try {
    return new URL(o).origin;
  } catch {
    return undefined;
  }
}

/** Builds a registry from parsed JSON `{ "apps": [...], "backends"?: [...] }`, checking every entry. */
export function createRegistry(doc: unknown): AppRegistry {
  const apps = (doc as { apps?: unknown })?.apps;
  if (!Array.isArray(apps)) throw new RegistryError('file', 'must be {"apps": [...]}');
  const backendList = (doc as { backends?: unknown }).backends ?? [];
  if (!Array.isArray(backendList)) throw new RegistryError('file', '"backends" must be a list of {"clientId", "clientSecret", "products"}');
  const byId = new Map<string, AppEntry>();
  const disabled = new Set<string>();
  apps.forEach((raw, i) => {
    const entry = parseEntry(raw, i);
    if (byId.has(entry.appId)) throw new RegistryError(`app ${entry.appId}`, 'is listed twice');
    byId.set(entry.appId, entry);
    // A disabled app (`"disabled": true`) is checked like any other and keeps its id and its
    // audiences (no other app may take them), but the services do not see it: it is unknown.
    if ((raw as { disabled?: unknown }).disabled === true) disabled.add(entry.appId);
  });
  // An audience is owned: a partner server registered for one app must never accept another
  // app's VTs because that app named the same URL.
  const audienceOwner = new Map<string, string>();
  for (const entry of byId.values()) {
    for (const a of new Set(entry.audiences ?? [])) {
      const owner = audienceOwner.get(a);
      if (owner !== undefined) {
        throw new RegistryError(`app ${entry.appId}`, `audiences: ${JSON.stringify(a).slice(0, 80)} is already registered by app ${owner}; an audience belongs to one app`);
      }
      audienceOwner.set(a, entry.appId);
    }
  }
  const backendsById = new Map<string, BackendEntry>();
  backendList.forEach((raw, i) => {
    const entry = parseBackend(raw, i);
    // One id space: a Basic credential must name exactly one client, app or backend.
    if (byId.has(entry.clientId)) throw new RegistryError(`backend ${entry.clientId}`, 'has the id of an app; client ids of apps and backends must differ');
    if (backendsById.has(entry.clientId)) throw new RegistryError(`backend ${entry.clientId}`, 'is listed twice');
    backendsById.set(entry.clientId, entry);
  });
  for (const id of disabled) byId.delete(id);
  const all = Object.freeze([...byId.values()]);
  const backends = Object.freeze([...backendsById.values()]);
  return { get: (id) => byId.get(id), all: () => all, backend: (id) => backendsById.get(id), backends: () => backends };
}

/** Loads the registry from a JSON file (APPS_FILE). */
export function loadRegistry(file: string): AppRegistry {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new RegistryError(file, `cannot be read as JSON (${(err as Error).message})`);
  }
  return createRegistry(doc);
}
