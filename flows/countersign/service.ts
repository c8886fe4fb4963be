/**
 * Auth's half of the countersign flow: application -> to-be-signed object (TBS, signed by the
 * broker) -> the device's countersignature -> the relay's decision -> a single-use grant, which the
 * product backend redeems before it acts. Every single-use step is one TokenStore.consume (or
 * setIfAbsent); every check is made again at redemption. See flows/countersign/README.md.
 */
import { decryptCompactAsync, JweError, type JweHeader } from '../../platform/crypto/jwe.ts';
import { readJsonBody, noStore } from '../../platform/http/body.ts';
import { Problem } from '../../platform/http/problem.ts';
import { mountInternalRoute } from '../../platform/http/upstream.ts';
import type { AppRouter, RequestMiddleware } from '../../platform/http/state.ts';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import { TOMBSTONE_PREFIX } from '../../platform/store/index.ts';
import { nowSeconds } from '../../platform/time.ts';
import type { AuthDeps } from '../deps.ts';
import { audit } from '../audit.ts';
import { findVisitToken, verifyVisitToken } from '../visit-token/records.ts';
import {
  canonicalParams, COUNTERSIGN_PATHS, COUNTERSIGNATURE_TYP, DECISION_TYP, GRANT_TYP, LEVEL_ACR, OPERATIONS, RELAY_REQUEST_TYP, TBS_TYP,
  type CountersignLevel, type CountersignOp, type CountersignOperation, type GrantClaims, type Receipt, type TbsClaims,
} from '../../protocol/countersign.ts';
import { es256Sign, jsonPayload, JwsError, keyOfJwk, MAX_COUNTERSIGN_JWS_LENGTH, parseJws, publicP256Jwk, sha256b64u, verifyParsed } from './jws.ts';
import { createStoreKeyRegistry, isActiveKeyOf, type KeyRegistry, type Owner, type RegisteredKey } from './registry.ts';
import { checkPassword, isAcceptablePassword, setPassword } from './password.ts';
import { COUNTERSIGN_DEFAULTS, type CountersignConfig } from './settings.ts';
import { COUNTERSIGN_OPS, COUNTERSIGN_ROUTES, type CountersignAnswer, type CountersignRequest, type CountersignService } from './seam.ts';

/** Store keys of the flow. */
export const appKey = (aid: string) => `cs-app:${aid}`;
export const verifiedKey = (aid: string) => `cs-ok:${aid}`;
export const grantKey = (gid: string) => `cs-grant:${gid}`;
const serialKey = (o: Owner, serial: string) => `cs-serial:${o.app}:${o.sub}:${serial}`;
const relayJtiKey = (relay: string, jti: string) => `cs-relay-jti:${relay}:${jti}`;

/** How far a relay's `iat` may be from the server's clock (s); its `jti` is kept twice as long. */
export const RELAY_REQUEST_WINDOW_SECONDS = 60;
/** A serial number is kept this long: the same serial within it is a replay. */
const SERIAL_TTL_SECONDS = 30 * 86400;
const ID_RE = /^[A-Za-z0-9_-]{22}$/;
const SERIAL_RE = /^[A-Za-z0-9_-]{8,64}$/;
const AMOUNT_RE = /^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$/;
const CURRENCY_RE = /^[A-Z]{3}$/;

/** The application as auth keeps it until it is countersigned (`cs-app:<aid>`), and after that (`cs-ok:<aid>`, with `cs`). */
interface ApplicationRecord {
  typ: 'cs-app' | 'cs-ok';
  exp: number;
  aid: string;
  app: string;
  sub: string;
  relay: string;
  kid: string;
  level: CountersignLevel;
  tbs: string;
  cs?: string;
}

/** A granted approval (`cs-grant:<jti>`), consumed once at redemption. */
interface GrantRecord {
  typ: 'cs-grant';
  exp: number;
  tbs: string;
  cs: string;
  rs: string;
}

/** The refusals of a countersignature that void its application (PSD2: any failure voids the code). */
const VOIDING_CODES: ReadonlySet<string> = new Set(['countersign_invalid', 'tbs_invalid', 'device_key_invalid', 'level_not_met', 'authorization_failed']);

const newId = () => randomBytesPooled(16).toString('base64url');

function parseRecord<T extends { typ: string }>(raw: string | null, typ: T['typ']): T | undefined {
  if (!raw || raw.startsWith(TOMBSTONE_PREFIX)) return undefined;
  try {
    const r = JSON.parse(raw) as T;
    return r && r.typ === typ ? r : undefined;
  } catch {
    return undefined;
  }
}

const P = {
  vt: () => new Problem('vt_invalid', 'Send a live visit token as "Authorization: Bearer <VT>".'),
  relay: (detail = 'The relay request is not signed by an active relay key of this user, or was already received.') => new Problem('relay_invalid', detail),
  deviceKey: () => new Problem('device_key_invalid', 'The device key is unknown, revoked or registered to someone else.'),
  tbs: () => new Problem('tbs_invalid', 'The signed object is not one this server signed.'),
  cs: () => new Problem('countersign_invalid', 'The countersignature does not verify over the object this server signed for the application.'),
  replayed: () => new Problem('countersign_replayed', 'This application, countersignature or grant was already used.'),
  expired: () => new Problem('countersign_expired', 'The application is unknown or expired; make a new one.'),
  level: () => new Problem('level_not_met', 'The operation needs a higher authorization level.'),
  failed: () => new Problem('authorization_failed', 'The authorization was refused.'),
  grant: () => new Problem('grant_invalid', 'The grant is not valid.'),
  mismatch: () => new Problem('params_mismatch', 'The operation or its parameters differ from what was approved.'),
  bad: (detail: string) => new Problem('invalid_request', detail),
};

/** Checks an application's operation and parameters; throws invalid_request. */
function checkOperation(operation: unknown, params: unknown): { op: CountersignOperation; params: Record<string, string> } {
  if (typeof operation !== 'string' || !Object.hasOwn(OPERATIONS, operation)) throw P.bad('Unknown operation.');
  if (!params || typeof params !== 'object' || Array.isArray(params)) throw P.bad('params must be an object of strings.');
  const entries = Object.entries(params as Record<string, unknown>);
  if (entries.length > 16 || !entries.every(([k, v]) => /^[a-z][a-zA-Z0-9]{0,31}$/.test(k) && typeof v === 'string' && v.length <= 140)) {
    throw P.bad('params must be at most 16 short strings.');
  }
  const p = params as Record<string, string>;
  for (const name of OPERATIONS[operation as CountersignOperation]) if (!p[name]) throw P.bad(`params.${name} is required for ${operation}.`);
  if (p.amount !== undefined && !AMOUNT_RE.test(p.amount)) throw P.bad('params.amount must be a decimal with at most 2 places.');
  if (p.currency !== undefined && !CURRENCY_RE.test(p.currency)) throw P.bad('params.currency must be an ISO 4217 code.');
  return { op: operation as CountersignOperation, params: p };
}

export const paramsDigest = (params: Record<string, string>) => sha256b64u(canonicalParams(params));

export interface CountersignServiceOptions {
  /** Where device and relay keys are found; by default registered here on first use. */
  registry?: KeyRegistry;
  /** The clock (unix s); tests move it. */
  now?: () => number;
}

/** Auth's implementation of the flow's seam. */
export function createCountersignService(deps: AuthDeps, opts: CountersignServiceOptions = {}): CountersignService {
  const { store, signingKeys } = deps;
  const cfg: CountersignConfig = deps.config.countersign ?? COUNTERSIGN_DEFAULTS;
  const registry = opts.registry ?? createStoreKeyRegistry(store);
  const now = opts.now ?? nowSeconds;
  const keysByKid = new Map(deps.keys.map((k) => [k.kid, k]));
  const algorithms = [...new Set(deps.keys.map((k) => k.alg))];
  const privateKeyFor = (h: JweHeader) => {
    const key = h.kid === undefined ? undefined : keysByKid.get(h.kid);
    return key && key.alg === h.alg ? key.privateKey : undefined;
  };

  /** The user a live VT names (VT-authenticated operations: registration, revocation, password). */
  async function ownerOf(authorization: string | undefined): Promise<Owner> {
    const vt = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(authorization ?? '')?.[1];
    if (!vt) throw P.vt();
    try {
      const claims = await verifyVisitToken(vt, { issuer: deps.config.issuer, keyFor: (kid) => signingKeys.keyFor(kid) });
      const record = await findVisitToken(store, claims.jti);
      if (!record || record.appId !== claims.app || record.userId !== claims.sub) throw P.vt();
      return { app: claims.app, sub: claims.sub };
    } catch (err) {
      if (err instanceof JwsError) throw P.vt();
      throw err;
    }
  }

  /**
   * A relay's request: the body is `{"request": <JWS>}`, signed with the relay's registered key
   * (typ countersign-relay+jwt), naming the route (`htu`), a fresh `iat` and a `jti` used once.
   */
  async function relayRequest(op: CountersignOp, body: Record<string, unknown>): Promise<{ relay: RegisteredKey; body: Record<string, unknown> }> {
    let payload: Record<string, unknown>;
    let relay: RegisteredKey | undefined;
    try {
      const jws = parseJws(body.request, RELAY_REQUEST_TYP);
      relay = await registry.find(jws.header.kid);
      if (!relay || relay.kind !== 'relay' || relay.status !== 'active') throw P.relay();
      verifyParsed(jws, keyOfJwk(relay.jwk));
      payload = jsonPayload(jws);
    } catch (err) {
      if (err instanceof JwsError) throw P.relay();
      throw err;
    }
    const t = now();
    if (payload.htm !== 'POST' || payload.htu !== COUNTERSIGN_PATHS[op]) throw P.relay('The relay request names another route.');
    if (typeof payload.iat !== 'number' || Math.abs(payload.iat - t) > RELAY_REQUEST_WINDOW_SECONDS) throw P.relay('The relay request is too old or from the future.');
    if (typeof payload.jti !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(payload.jti)) throw P.relay();
    const inner = payload.body;
    if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw P.bad('The relay request carries no body.');
    if (!(await store.setIfAbsent(relayJtiKey(relay.kid, payload.jti), '1', 2 * RELAY_REQUEST_WINDOW_SECONDS))) throw P.relay();
    return { relay, body: inner as Record<string, unknown> };
  }

  async function openPassword(jwe: unknown, expect: Record<string, string>): Promise<string | undefined> {
    try {
      const opened = await decryptCompactAsync(jwe, { algorithms, key: privateKeyFor, maxLength: 8192 });
      const p = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(opened.plaintext)) as Record<string, unknown>;
      if (!p || typeof p !== 'object' || !Object.entries(expect).every(([k, v]) => p[k] === v)) return undefined;
      return isAcceptablePassword(p.pw) ? p.pw : undefined;
    } catch (err) {
      if (err instanceof JweError || err instanceof SyntaxError || err instanceof TypeError) return undefined;
      throw err;
    }
  }

  const signingKeyFor = (kid: string) => signingKeys.keyFor(kid);

  /** The TBS object: signed by one of our published keys, with its claims. Throws tbs_invalid. */
  async function verifyTbs(tbs: string): Promise<TbsClaims> {
    try {
      const jws = parseJws(tbs, TBS_TYP);
      verifyParsed(jws, await signingKeyFor(jws.header.kid));
      return jsonPayload(jws) as unknown as TbsClaims;
    } catch (err) {
      if (err instanceof JwsError) throw P.tbs();
      throw err;
    }
  }

  /**
   * The countersignature over exactly `tbs` (its payload is the TBS string, byte for byte), by
   * the device key the application named, which is registered, active and the user's.
   */
  async function verifyCountersignature(cs: unknown, tbs: string, rec: { kid: string; app: string; sub: string }): Promise<RegisteredKey> {
    let jws;
    try {
      jws = parseJws(cs, COUNTERSIGNATURE_TYP);
    } catch (err) {
      if (err instanceof JwsError) throw P.cs();
      throw err;
    }
    const signed = jws.payload.toString('latin1');
    // Whatever the device signed must be an object this server signed ...
    if (signed !== tbs) {
      await verifyTbs(signed);
      // ... and the very one made for this application.
      throw P.cs();
    }
    const key = await registry.find(jws.header.kid);
    if (jws.header.kid !== rec.kid || !isActiveKeyOf(key, 'device', rec)) throw P.deviceKey();
    try {
      verifyParsed(jws, keyOfJwk(key.jwk));
    } catch (err) {
      if (err instanceof JwsError) throw P.cs();
      throw err;
    }
    return key;
  }

  /** The relay's decision over this application's TBS and countersignature; its value. Throws relay_invalid. */
  function verifyDecision(decision: unknown, relay: RegisteredKey, rec: ApplicationRecord): 'approve' | 'refuse' {
    try {
      const jws = parseJws(decision, DECISION_TYP);
      if (jws.header.kid !== relay.kid) throw new JwsError('kid');
      verifyParsed(jws, keyOfJwk(relay.jwk));
      const d = jsonPayload(jws);
      if (d.aid !== rec.aid || d.tbs !== sha256b64u(rec.tbs) || d.cs !== sha256b64u(rec.cs ?? '')) throw new JwsError('names another application');
      if (d.decision !== 'approve' && d.decision !== 'refuse') throw new JwsError('decision');
      return d.decision;
    } catch (err) {
      if (err instanceof JwsError) throw P.relay('The decision is not signed by this relay over this application.');
      throw err;
    }
  }

  async function readApplication(key: string, typ: ApplicationRecord['typ']): Promise<ApplicationRecord> {
    const raw = await store.get(key);
    if (raw === null) throw P.expired();
    if (raw.startsWith(TOMBSTONE_PREFIX)) throw P.replayed();
    const rec = parseRecord<ApplicationRecord>(raw, typ);
    if (!rec || rec.exp <= now()) throw P.expired();
    return rec;
  }

  const service: CountersignService = {
    async registerKey({ authorization, body }) {
      const owner = await ownerOf(authorization);
      const kind = body.kind ?? 'device';
      if (kind !== 'device' && kind !== 'relay') throw P.bad('kind must be "device" or "relay".');
      const jwk = publicP256Jwk(body.jwk);
      if (!jwk) throw P.bad('jwk must be a public P-256 key (kty, crv, x, y).');
      const key = await registry.register(owner, kind, jwk);
      if (!key || key.status !== 'active') throw P.deviceKey();
      return { kid: key.kid, kind: key.kind, status: key.status };
    },

    async revokeKey({ authorization, body }) {
      const owner = await ownerOf(authorization);
      if (typeof body.kid !== 'string' || !(await registry.revoke(owner, body.kid))) throw P.deviceKey();
      return { kid: body.kid, status: 'revoked' };
    },

    async setPassword({ authorization, body }) {
      const owner = await ownerOf(authorization);
      const pw = await openPassword(body.password, { purpose: 'set', app: owner.app, sub: owner.sub });
      if (!pw) throw P.bad('password must be a JWE to the broker\'s key of {"purpose":"set","app","sub","pw"} with a password of 6 to 64 characters.');
      if (!(await setPassword(store, owner, pw))) throw P.bad('An authorization password is already set for this user.');
      return { status: 'set' };
    },

    async apply({ body: outer }, requestId) {
      const { relay, body } = await relayRequest('apply', outer);
      const a = body.application as Record<string, unknown> | undefined;
      if (!a || typeof a !== 'object') throw P.bad('application is required.');
      const owner = { app: String(a.app ?? ''), sub: String(a.sub ?? '') };
      if (relay.app !== owner.app || relay.sub !== owner.sub) throw P.relay('This relay is not registered to the user the application names.');
      if (typeof a.serial !== 'string' || !SERIAL_RE.test(a.serial)) throw P.bad('serial must be 8 to 64 base64url characters.');
      if (a.level !== 1 && a.level !== 2) throw P.bad('level must be 1 or 2.');
      const { op, params } = checkOperation(a.operation, a.params);
      if (typeof a.kid !== 'string' || !isActiveKeyOf(await registry.find(a.kid), 'device', owner)) throw P.deviceKey();
      // Per user, whichever relay asks: a flood of applications (push-bombing) stops here.
      const limit = await store.rateLimit(`cs-rate:${owner.app}:${owner.sub}`, cfg.applicationsPerWindow, cfg.windowSeconds * 1000);
      if (!limit.allowed) {
        audit(deps.log, 'rate.limited', { policy: 'countersign', route: 'POST /v1/countersign/applications', appId: owner.app, retryAfter: Math.ceil(limit.retryAfterMs / 1000), reqId: requestId });
        throw new Problem('rate_limited', 'Too many countersign applications for this user; try again after Retry-After.', { headers: { 'Retry-After': String(Math.ceil(limit.retryAfterMs / 1000)) } });
      }
      const aid = newId();
      if (!(await store.setIfAbsent(serialKey(owner, a.serial), aid, SERIAL_TTL_SECONDS))) throw P.replayed();
      const iat = now();
      const claims: TbsClaims = {
        iss: deps.config.issuer, aid, app: owner.app, sub: owner.sub, op, pd: paramsDigest(params),
        ...(params.amount !== undefined && { amount: params.amount }),
        ...(params.currency !== undefined && { currency: params.currency }),
        ...(params.payee !== undefined && { payee: params.payee }),
        serial: a.serial, relay: relay.kid, kid: a.kid, nonce: newId(), level: a.level, iat, exp: iat + cfg.ttlSeconds,
      };
      const signer = signingKeys.current();
      const tbs = es256Sign({ typ: TBS_TYP, kid: signer.kid }, claims as unknown as Record<string, unknown>, signer.privateKey);
      const record: ApplicationRecord = { typ: 'cs-app', exp: claims.exp, aid, app: owner.app, sub: owner.sub, relay: relay.kid, kid: a.kid, level: a.level, tbs };
      if (!(await store.setIfAbsent(appKey(aid), JSON.stringify(record), cfg.ttlSeconds))) throw new Problem('internal_error', undefined, { cause: new Error('application id collision') });
      return { auth_req_id: aid, tbs, expires_in: cfg.ttlSeconds, interval: cfg.pollIntervalSeconds };
    },

    async countersign({ body: outer }, requestId) {
      const { relay, body } = await relayRequest('countersign', outer);
      const aid = body.auth_req_id;
      if (typeof aid !== 'string' || !ID_RE.test(aid)) throw P.expired();
      const rec = await readApplication(appKey(aid), 'cs-app');
      if (rec.relay !== relay.kid) throw P.relay('The application was made through another relay.');
      try {
        if (typeof body.countersignature !== 'string' || body.countersignature.length > MAX_COUNTERSIGN_JWS_LENGTH) throw P.cs();
        await verifyCountersignature(body.countersignature, rec.tbs, rec);
        if (rec.level === 2) {
          if (body.password === undefined) throw P.level();
          const pw = await openPassword(body.password, { purpose: 'authorize', aid });
          // One answer for every failure: no password set, locked, wrong, or a JWE for another application.
          if (!pw || !(await checkPassword(store, rec, pw))) throw P.failed();
        }
      } catch (err) {
        // Only a refusal voids the application; a store or key-set failure leaves it as it was.
        if (!(err instanceof Problem) || !VOIDING_CODES.has(err.code)) throw err;
        audit(deps.log, 'countersign.refused', { appId: rec.app, aid, code: err.code, reqId: requestId });
        // A refused countersignature voids the application: nothing of it can be approved any more.
        await store.consume(appKey(aid), { tombstone: `${TOMBSTONE_PREFIX}refused:${err.code}`, ttlSeconds: cfg.ttlSeconds, now: now(), require: { typ: 'cs-app' } });
        throw err;
      }
      const t = now();
      const verified: ApplicationRecord = { ...rec, typ: 'cs-ok', cs: body.countersignature as string };
      const result = await store.consume(appKey(aid), {
        tombstone: `${TOMBSTONE_PREFIX}countersigned`, ttlSeconds: cfg.ttlSeconds, now: t, require: { typ: 'cs-app' },
        companions: [{ key: verifiedKey(aid), ttlSeconds: Math.max(1, rec.exp - t), value: JSON.stringify(verified) }],
      });
      if (result.outcome === 'used') throw P.replayed();
      if (result.outcome !== 'consumed') throw P.expired();
      return { auth_req_id: aid, status: 'verified', level: rec.level, acr: LEVEL_ACR[rec.level] };
    },

    async poll({ body: outer }) {
      const { relay, body } = await relayRequest('poll', outer);
      const aid = body.auth_req_id;
      if (typeof aid !== 'string' || !ID_RE.test(aid)) throw P.expired();
      const limit = await store.rateLimit(`cs-poll:${aid}`, 1, cfg.pollIntervalSeconds * 1000);
      if (!limit.allowed) throw new Problem('slow_down', `Poll at most every ${cfg.pollIntervalSeconds} s.`, { extensions: { interval: cfg.pollIntervalSeconds + 1 } });
      const raw = await store.get(appKey(aid));
      if (raw === null) throw P.expired();
      if (!raw.startsWith(TOMBSTONE_PREFIX)) {
        const rec = parseRecord<ApplicationRecord>(raw, 'cs-app');
        if (!rec || rec.relay !== relay.kid) throw P.expired();
        throw new Problem('authorization_pending', 'The device has not countersigned yet.', { extensions: { interval: cfg.pollIntervalSeconds } });
      }
      if (raw.startsWith(`${TOMBSTONE_PREFIX}refused:`)) throw new Problem('access_denied', 'The countersignature was refused; nothing was approved.');
      const okRaw = await store.get(verifiedKey(aid));
      const ok = parseRecord<ApplicationRecord>(okRaw, 'cs-ok');
      if (ok && ok.relay === relay.kid) return { auth_req_id: aid, status: 'verified', level: ok.level, acr: LEVEL_ACR[ok.level] };
      if (okRaw?.startsWith(`${TOMBSTONE_PREFIX}granted:`)) return { auth_req_id: aid, status: 'approved' };
      if (okRaw?.startsWith(`${TOMBSTONE_PREFIX}refused`)) return { auth_req_id: aid, status: 'refused' };
      throw P.expired();
    },

    async decide({ body: outer }, requestId) {
      const { relay, body } = await relayRequest('decide', outer);
      const aid = body.auth_req_id;
      if (typeof aid !== 'string' || !ID_RE.test(aid)) throw P.expired();
      const rec = await readApplication(verifiedKey(aid), 'cs-ok');
      if (rec.relay !== relay.kid) throw P.relay('The application was made through another relay.');
      const decision = verifyDecision(body.decision, relay, rec);
      const t = now();
      if (decision === 'refuse') {
        const r = await store.consume(verifiedKey(aid), { tombstone: `${TOMBSTONE_PREFIX}refused:relay`, ttlSeconds: cfg.ttlSeconds, now: t, require: { typ: 'cs-ok' } });
        if (r.outcome === 'used') throw P.replayed();
        return { auth_req_id: aid, status: 'refused' };
      }
      // Everything once more, as it stands now: the keys may have been revoked since.
      const tbs = await verifyTbs(rec.tbs);
      const device = await verifyCountersignature(rec.cs, rec.tbs, rec);
      const gid = newId();
      const claims: GrantClaims = {
        iss: deps.config.issuer, jti: gid, aid, app: rec.app, sub: rec.sub, acr: LEVEL_ACR[rec.level], op: tbs.op, pd: tbs.pd,
        ...(tbs.amount !== undefined && { amount: tbs.amount }),
        ...(tbs.currency !== undefined && { currency: tbs.currency }),
        ...(tbs.payee !== undefined && { payee: tbs.payee }),
        serial: tbs.serial, relay: relay.kid, kid: rec.kid, iat: t, exp: t + cfg.ttlSeconds,
        receipt: { tbs: sha256b64u(rec.tbs), cs: sha256b64u(rec.cs!), rs: sha256b64u(body.decision as string) },
      };
      const signer = signingKeys.current();
      const grant = es256Sign({ typ: GRANT_TYP, kid: signer.kid }, claims as unknown as Record<string, unknown>, signer.privateKey);
      const grantRecord: GrantRecord = { typ: 'cs-grant', exp: claims.exp, tbs: rec.tbs, cs: rec.cs!, rs: body.decision as string };
      const result = await store.consume(verifiedKey(aid), {
        tombstone: `${TOMBSTONE_PREFIX}granted:${gid}`, ttlSeconds: cfg.ttlSeconds, now: t, require: { typ: 'cs-ok' },
        companions: [{ key: grantKey(gid), ttlSeconds: cfg.ttlSeconds, value: JSON.stringify(grantRecord) }],
      });
      if (result.outcome === 'used') throw P.replayed();
      if (result.outcome !== 'consumed') throw P.expired();
      audit(deps.log, 'countersign.approved', { appId: rec.app, userId: rec.sub, aid, acr: claims.acr, reqId: requestId });
      const receipt: Receipt = { tbs: rec.tbs, countersignature: rec.cs!, decision: body.decision as string, deviceJwk: device.jwk, relayJwk: relay.jwk };
      return { auth_req_id: aid, status: 'approved', grant, receipt };
    },

    async redeem({ body }, requestId) {
      let claims: GrantClaims;
      try {
        const jws = parseJws(body.grant, GRANT_TYP);
        verifyParsed(jws, await signingKeyFor(jws.header.kid));
        claims = jsonPayload(jws) as unknown as GrantClaims;
      } catch (err) {
        if (err instanceof JwsError) throw P.grant();
        throw err;
      }
      const t = now();
      if (typeof claims.jti !== 'string' || !ID_RE.test(claims.jti) || typeof claims.exp !== 'number' || claims.exp <= t || claims.iss !== deps.config.issuer) throw P.grant();
      // A backend that names the user it acts for gets a grant of that user only (and spends nothing else).
      if ((body.sub !== undefined && body.sub !== claims.sub) || (body.app !== undefined && body.app !== claims.app)) throw P.grant();
      const { op, params } = checkOperation(body.operation, body.params);
      if (op !== claims.op || paramsDigest(params) !== claims.pd) throw P.mismatch();
      const required = body.level === undefined ? 1 : body.level;
      if (required !== 1 && required !== 2) throw P.bad('level must be 1 or 2.');
      if (claims.acr !== LEVEL_ACR[2] && required === 2) throw P.level();
      // Re-checked at redemption: the grant's record, the three signatures over what it names, and
      // the keys' registration and status as they are now.
      const raw = await store.get(grantKey(claims.jti));
      if (raw?.startsWith(TOMBSTONE_PREFIX)) throw P.replayed();
      const rec = parseRecord<GrantRecord>(raw, 'cs-grant');
      if (!rec) throw P.grant();
      if (sha256b64u(rec.tbs) !== claims.receipt?.tbs || sha256b64u(rec.cs) !== claims.receipt.cs || sha256b64u(rec.rs) !== claims.receipt.rs) throw P.grant();
      const tbs = await verifyTbs(rec.tbs);
      if (tbs.aid !== claims.aid || tbs.pd !== claims.pd || tbs.op !== claims.op || tbs.kid !== claims.kid || tbs.relay !== claims.relay || LEVEL_ACR[tbs.level] !== claims.acr) throw P.grant();
      const owner = { app: claims.app, sub: claims.sub };
      await verifyCountersignature(rec.cs, rec.tbs, { kid: claims.kid, ...owner });
      const relay = await registry.find(claims.relay);
      if (!isActiveKeyOf(relay, 'relay', owner)) throw P.relay('The relay that approved is no longer registered.');
      verifyDecision(rec.rs, relay, { aid: claims.aid, tbs: rec.tbs, cs: rec.cs } as ApplicationRecord);
      const result = await store.consume(grantKey(claims.jti), { tombstone: `${TOMBSTONE_PREFIX}redeemed`, ttlSeconds: cfg.ttlSeconds, now: t, require: { typ: 'cs-grant' } });
      if (result.outcome === 'used') throw P.replayed();
      if (result.outcome !== 'consumed') throw P.grant();
      audit(deps.log, 'countersign.redeemed', { appId: claims.app, aid: claims.aid, acr: claims.acr, reqId: requestId });
      return {
        status: 'redeemed', acr: claims.acr, app: claims.app, sub: claims.sub, op: claims.op, serial: claims.serial, aid: claims.aid,
        ...(claims.amount !== undefined && { amount: claims.amount }),
        ...(claims.currency !== undefined && { currency: claims.currency }),
        ...(claims.payee !== undefined && { payee: claims.payee }),
      };
    },
  };
  return service;
}

/** Mounts the flow's internal half on auth's router, behind `internal`. */
export function mountCountersignService(router: AppRouter, service: CountersignService, internal: RequestMiddleware): void {
  for (const op of COUNTERSIGN_OPS) {
    mountInternalRoute(router, COUNTERSIGN_ROUTES[op], internal, async function countersignAction(ctx) {
      const { body } = await readJsonBody(ctx, { limit: 64 * 1024 });
      const request = body as unknown as CountersignRequest;
      const inner = request.body;
      if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw P.bad('The request body must be a JSON object.');
      const answer: CountersignAnswer = await service[op]({ authorization: typeof request.authorization === 'string' ? request.authorization : undefined, body: inner as Record<string, unknown> }, ctx.state.requestId);
      noStore(ctx);
      return answer;
    });
  }
}

