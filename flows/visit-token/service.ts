import { decryptCompactAsync, encryptCompact, MAX_ENVELOPE_LENGTH, JweError, type JweHeader } from '../../platform/crypto/jwe.ts';
import { audit } from '../audit.ts';
import { noStore, readJsonBody } from '../../platform/http/body.ts';
import { Problem } from '../../platform/http/problem.ts';
import { createHash, timingSafeEqual } from 'node:crypto';
import { SLOT_TAG_LENGTH, TOMBSTONE_PREFIX, type TokenStore } from '../../platform/store/index.ts';
import { clientGone } from '../../platform/http/client-gone.ts';
import { atKey, parseAccessTokenRecord, type AccessTokenRecord } from '../access-token/records.ts';
import type { SigningKey } from '../keys/keys.ts';
import { findVisitToken, legacyVtKey, newJti, redeemedKey, signVisitToken, vtKey } from './records.ts';
import { nowSeconds } from '../../platform/time.ts';
import { OPAQUE_TOKEN_RE, tokenHash } from '../../platform/crypto/opaque.ts';
import type { AuthDeps } from '../deps.ts';
import { mountInternalRoute } from '../../platform/http/upstream.ts';
import type { AppRouter, RequestMiddleware } from '../../platform/http/state.ts';
import { pageKeyThumbprint } from './dpop.ts';
import { VISIT_TOKEN_ROUTES, type ExchangedVisitToken, type ExchangeOptions, type VisitTokenService } from './seam.ts';
import { counter } from '../../platform/metrics/index.ts';

/** Exchanges answered with a VT: `issued` (an AT consumed), `reissued` (the page's retry, decision 41). */
const exchanged = counter('broker_visit_tokens_exchanged_total', 'Exchanges answered with a visit token, by how (issued: an AT consumed; reissued: the same R again)', ['how']);
/** Exchanges refused, by code (auth's view; the gateway's answer is in broker_http_problems_total). */
const refused = counter('broker_visit_token_refusals_total', 'Exchanges refused by auth, by problem code', ['code']);
/** Replays of a consumed AT with another R (each revokes the VT it gave). */
const replayed = counter('broker_access_token_replays_total', 'Consumed access tokens presented again with another envelope key');

export type { ExchangedVisitToken } from './seam.ts';


const envelopeInvalid = (cause?: unknown) => new Problem('envelope_invalid', 'The envelope cannot be opened.', { cause });
const atInvalid = () => new Problem('at_invalid', 'The access token is unknown, expired or already used. Open the page from the app again.');

/**
 * The AT inside an opened envelope, and the thumbprint of the page's key when it sent one (`jwk`,
 * a P-256 public key: the VT is then bound to it, `cnf.jkt`), or envelope_invalid.
 */
async function readEnvelopePlaintext(plaintext: Buffer): Promise<{ at: string; iat: number; jkt?: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch (cause) {
    throw envelopeInvalid(cause);
  }
  // Exactly `{"at": <string>, "iat": <positive integer>}`, or with the page's public key
  // `{"at", "iat", "jwk"}` (docs/protocol.md section 2): no other member, no fractional, zero or
  // negative `iat`, and a `jwk` that is exactly a P-256 public key.
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw envelopeInvalid();
  const p = parsed as { at?: unknown; iat?: unknown; jwk?: unknown };
  const keys = Object.keys(p);
  const allowed = new Set(['at', 'iat', 'jwk']);
  if (!keys.includes('at') || !keys.includes('iat') || !keys.every((k) => allowed.has(k))) throw envelopeInvalid();
  if (typeof p.at !== 'string' || typeof p.iat !== 'number' || !Number.isSafeInteger(p.iat) || p.iat <= 0) throw envelopeInvalid();
  if (p.jwk === undefined) return { at: p.at, iat: p.iat };
  const jkt = await pageKeyThumbprint(p.jwk);
  if (!jkt) throw envelopeInvalid(new Error('jwk is not a P-256 public key'));
  return { at: p.at, iat: p.iat, jkt };
}

/** SHA-256 of R, base64url: what the tombstone keeps of R (never R itself). */
const digestOfR = (r: Buffer) => createHash('sha256').update(r).digest('base64url');

/**
 * The tombstone of a redeemed AT: `used:<jti>.<SHA-256(R), base64url>`. It names the VT (for a
 * replay to revoke it) and the R its reply was sealed under (for the page's retry, decision 41).
 */
const tombstoneFor = (jti: string, r: Buffer) => `${TOMBSTONE_PREFIX}${jti}.${digestOfR(r)}`;

/** The VT's jti and, when the tombstone has one, the digest of R. */
function readTombstone(tombstone: string): { jti: string; rDigest?: string } {
  const [jti, rDigest] = tombstone.slice(TOMBSTONE_PREFIX.length).split('.', 2) as [string, string?];
  return { jti, rDigest };
}

/** The page's retry: the tombstone names this very R (compared in constant time). */
function sameR(rDigest: string | undefined, r: Buffer): boolean {
  if (!rDigest) return false;
  const a = Buffer.from(rDigest, 'base64url');
  const b = createHash('sha256').update(r).digest();
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The answer to a client that closed its connection before its AT was spent: nobody reads it. */
const clientClosed = () => new Problem('invalid_request', 'The connection was closed before the exchange; the access token was not used.');

/**
 * A second presentation of a consumed AT is a sign of theft: the VT it produced is revoked
 * (OAuth's rule for a reused code, RFC 6749 section 4.1.2).
 */
async function revokeOnReplay(store: TokenStore, tombstone: string, deps: AuthDeps, requestId?: string, appId?: string): Promise<void> {
  // The tombstone names the VT's jti; deleting its liveness record revokes the VT at once.
  const { jti } = readTombstone(tombstone);
  // Both names of the record (legacyVtKey: a VT issued before decision 80), each its own command.
  const [tagged, legacy] = await Promise.all([store.delete(vtKey(jti)), store.delete(legacyVtKey(jti))]);
  const revoked = tagged || legacy;
  replayed.inc();
  audit(deps.log, 'at.replayed', { appId, reqId: requestId, revokedVt: revoked ? 1 : 0 });
  if (revoked) audit(deps.log, 'vt.revoked', { appId, reason: 'at_replayed', reqId: requestId });
}

/**
 * Opens the H5 envelope (R wrapped to one of our keys with `RSA-OAEP-256` or `ECDH-ES+A256KW`,
 * each key for its own alg only), consumes the AT once, issues a VT and seals it under the same
 * R. Throws Problem. The same for `POST /internal/visit-tokens` and for a gateway in this process
 * (createVisitTokenService).
 *
 * "No VT without its AT consumed, no AT consumed twice": the VT's liveness record and the AT's
 * tombstone, which names the VT, are written in one atomic step (TokenStore.consume with the VT
 * record as a companion), so of many concurrent exchanges of one AT exactly one writes them and
 * answers with a VT (decisions 34, 40). The same envelope's R presented again within the AT's
 * lifetime (the page's retry after a lost answer) gets the same VT again, under a new IV; any
 * other R presenting a used AT is a replay and revokes that VT (decision 41).
 */
function visitTokenExchanger(deps: AuthDeps) {
  const { store, config, log } = deps;
  const keysByKid = new Map(deps.keys.map((k) => [k.kid, k]));
  const algorithms = [...new Set(deps.keys.map((k) => k.alg))];
  /** The private key the header names by `kid`, only when that key is for the header's `alg`. */
  const privateKeyFor = (h: JweHeader) => {
    const key = h.kid === undefined ? undefined : keysByKid.get(h.kid);
    return key && key.alg === h.alg ? key.privateKey : undefined;
  };

  async function openEnvelope(envelope: unknown, requestId?: string): Promise<{ at: string; iat: number; jkt?: string; r: Buffer }> {
    let opened;
    try {
      opened = await decryptCompactAsync(envelope, { algorithms, key: privateKeyFor, maxLength: MAX_ENVELOPE_LENGTH });
    } catch (err) {
      if (!(err instanceof JweError)) throw err;
      audit(log, 'envelope.rejected', { reqId: requestId });
      throw envelopeInvalid(err);
    }
    return { ...(await readEnvelopePlaintext(opened.plaintext)), r: opened.cek };
  }

  /** The reply for a VT: its claims from the AT record (bound to `vt.jkt` when set), sealed under R with a fresh IV. */
  function sealedReply(signingKey: SigningKey, atRecord: AccessTokenRecord, r: Buffer, vt: { jti: string; iat: number; exp: number; jkt?: string }, withVisitToken?: boolean): ExchangedVisitToken {
    const { vt: signed } = signVisitToken(signingKey, {
      issuer: config.issuer, userId: atRecord.userId, appId: atRecord.appId, productId: atRecord.productId,
      audience: atRecord.audience, profile: atRecord.profile, attributes: atRecord.attributes,
      ttlSeconds: vt.exp - vt.iat, now: vt.iat, jti: vt.jti, jkt: vt.jkt,
    });
    const reply = JSON.stringify({ vt: signed, expiresIn: vt.exp - vt.iat, productId: atRecord.productId, userId: atRecord.userId });
    const envelope = encryptCompact({ header: { alg: 'dir', enc: 'A256GCM' }, plaintext: reply, key: r });
    if (!withVisitToken) return { envelope };
    return { envelope, visitToken: { vt: signed, jti: vt.jti, app: atRecord.appId, sub: atRecord.userId, productId: atRecord.productId } };
  }

  /**
   * The page's retry with the same R after its answer was lost: the VT the redeem gave, signed
   * again with the same claims (same `jti`, `iat`, `exp`, and `cnf` from the record) and sealed under R with a new IV; while
   * the AT's lifetime lasts and the VT is live (not revoked), else at_invalid. Writes nothing.
   */
  async function reissue(atHash: string, jti: string, r: Buffer, now: number, requestId?: string): Promise<ExchangedVisitToken> {
    const [raw, record] = await Promise.all([store.get(redeemedKey(atHash)), findVisitToken(store, jti, now)]);
    const atRecord = raw ? parseAccessTokenRecord(raw) : undefined;
    if (!atRecord || atRecord.exp <= now || !record || record.appId !== atRecord.appId || record.userId !== atRecord.userId) {
      audit(log, 'at.retry_refused', { appId: atRecord?.appId, reqId: requestId });
      throw atInvalid();
    }
    // Never the VT in the clear here: whoever sends an envelope again may hold only a copy of it
    // (a logged body), and must get nothing R does not open (no included product, decision 89).
    const reply = sealedReply(deps.signingKeys.current(), atRecord, r, { jti, iat: record.iat, exp: record.exp, jkt: record.jkt });
    exchanged.inc({ how: 'reissued' });
    audit(log, 'vt.reissued', { appId: atRecord.appId, productId: atRecord.productId, userId: atRecord.userId, reqId: requestId });
    return reply;
  }

  async function consumeAccessToken(at: string, r: Buffer, jkt: string | undefined, requestId?: string, opts: ExchangeOptions = {}): Promise<ExchangedVisitToken> {
    if (!OPAQUE_TOKEN_RE.test(at)) throw atInvalid();
    // Everything that could fail is done before the AT is spent: the key that will sign, the VT's id.
    const signingKey = deps.signingKeys.current();
    const atHash = tokenHash(at);
    // The VT's id carries the AT's slot tag: its record is written in the AT's slot (decision 80).
    const jti = newJti(atHash.slice(0, SLOT_TAG_LENGTH));
    const now = nowSeconds();
    // Nobody is left to receive a VT: the AT stays unspent (its envelope may be sent again).
    if (opts.clientGone?.()) throw clientClosed();
    // One atomic step (one Lua script on Redis): the AT replaced by a tombstone naming the VT and
    // R's digest, the VT's liveness record written (app, user and product picked from the AT
    // record), and the AT record kept for the page's retry, or nothing written. A failure here (a
    // store error, a timeout whose outcome is unknown) is 503 and is never retried: the AT may be
    // spent, and the page's retry with the same R then gets the VT (decision 41).
    const result = await store.consume(atKey(atHash), {
      tombstone: tombstoneFor(jti, r),
      ttlSeconds: config.vtTtlSeconds,
      now,
      require: { typ: 'at' },
      companions: [
        { key: vtKey(jti), ttlSeconds: config.vtTtlSeconds, value: JSON.stringify({ typ: 'vt', iat: now, exp: now + config.vtTtlSeconds, ...(jkt && { jkt }) }), pick: ['appId', 'userId', 'productId'] },
        { key: redeemedKey(atHash), ttlSeconds: config.atTtlSeconds, copy: true },
      ],
    });
    switch (result.outcome) {
      case 'absent':
      case 'refused':
        throw atInvalid();
      case 'used': {
        const tombstone = readTombstone(result.tombstone);
        if (sameR(tombstone.rDigest, r)) return reissue(atHash, tombstone.jti, r, now, requestId);
        await revokeOnReplay(store, result.tombstone, deps, requestId);
        throw atInvalid();
      }
      case 'collision':
        throw new Problem('internal_error', undefined, { cause: new Error('VT collision') });
    }
    const atRecord = parseAccessTokenRecord(result.value)!;
    const reply = sealedReply(signingKey, atRecord, r, { jti, iat: now, exp: now + config.vtTtlSeconds, jkt }, opts.withVisitToken);
    exchanged.inc({ how: 'issued' });
    audit(log, 'vt.issued', { appId: atRecord.appId, productId: atRecord.productId, userId: atRecord.userId, reqId: requestId });
    return reply;
  }

  return async function exchangeVisitToken(envelope: unknown, requestId?: string, opts?: ExchangeOptions): Promise<ExchangedVisitToken> {
    try {
      const { at, r, jkt } = await openEnvelope(envelope, requestId);
      return await consumeAccessToken(at, r, jkt, requestId, opts);
    } catch (err) {
      if (err instanceof Problem) refused.inc({ code: err.code });
      throw err;
    }
  };
}

/** Auth's implementation of the flow's seam; a gateway in auth's process calls it directly (decision 33). */
export function createVisitTokenService(deps: AuthDeps): VisitTokenService {
  return { exchange: visitTokenExchanger(deps) };
}

/**
 * Mounts the flow's internal half on auth's router, behind `internal` (the internal credential):
 * `POST /internal/visit-tokens`, the envelope from the gateway (see visitTokenExchanger).
 */
export function mountVisitTokenService(router: AppRouter, service: VisitTokenService, internal: RequestMiddleware): void {
  mountInternalRoute(router, VISIT_TOKEN_ROUTES.exchange, internal, async function exchangeVisitTokenAction(ctx) {
    const { body } = await readJsonBody(ctx, { limit: MAX_ENVELOPE_LENGTH + 256 });
    // Over HTTP the client is the gateway: gone when it gave up on this call (its timeout).
    const reply = await service.exchange(body.envelope, ctx.state.requestId, { clientGone: () => clientGone(ctx), withVisitToken: body.withVisitToken === true });
    noStore(ctx);
    return reply;
  });
}
