import { decryptCompactAsync, encryptCompact, MAX_ENVELOPE_LENGTH, JweError, type JweHeader } from '../../platform/crypto/jwe.ts';
import { audit } from '../audit.ts';
import { noStore, readJsonBody } from '../../platform/http/body.ts';
import { Problem } from '../../platform/http/problem.ts';
import { TOMBSTONE_PREFIX, type TokenStore } from '../../platform/store/index.ts';
import { atKey, parseAccessTokenRecord } from '../access-token/records.ts';
import { newJti, signVisitToken, vtKey } from './records.ts';
import { nowSeconds } from '../../platform/time.ts';
import { OPAQUE_TOKEN_RE, tokenHash } from '../../platform/crypto/opaque.ts';
import type { AuthDeps } from '../deps.ts';
import { mountInternalRoute } from '../../platform/http/upstream.ts';
import type { AppRouter, RequestMiddleware } from '../../platform/http/state.ts';
import { VISIT_TOKEN_ROUTES, type ExchangedVisitToken, type VisitTokenService } from './seam.ts';

export type { ExchangedVisitToken } from './seam.ts';


const envelopeInvalid = (cause?: unknown) => new Problem('envelope_invalid', 'The envelope cannot be opened.', { cause });
const atInvalid = () => new Problem('at_invalid', 'The access token is unknown, expired or already used. Open the page from the app again.');

/** The AT inside an opened envelope, or envelope_invalid. */
function readEnvelopePlaintext(plaintext: Buffer): { at: string; iat: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch (cause) {
    throw envelopeInvalid(cause);
  }
  const p = parsed as { at?: unknown; iat?: unknown };
  if (!p || typeof p !== 'object' || typeof p.at !== 'string' || typeof p.iat !== 'number') throw envelopeInvalid();
  return { at: p.at, iat: p.iat };
}

/**
 * A second presentation of a consumed AT is a sign of theft: the VT it produced is revoked
 * (OAuth's rule for a reused code, RFC 6749 section 4.1.2).
 */
async function revokeOnReplay(store: TokenStore, tombstone: string, deps: AuthDeps, requestId?: string, appId?: string): Promise<void> {
  // The tombstone names the VT's jti; deleting its liveness record revokes the VT at once.
  const jti = tombstone.slice(TOMBSTONE_PREFIX.length);
  const revoked = await store.delete(vtKey(jti));
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
 * tombstone, which names the VT, are written in one atomic step (TokenStore.redeem), so of many
 * concurrent exchanges of one AT exactly one writes them and answers with a VT (decision 34).
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

  async function openEnvelope(envelope: unknown, requestId?: string): Promise<{ at: string; iat: number; r: Buffer }> {
    let opened;
    try {
      opened = await decryptCompactAsync(envelope, { algorithms, key: privateKeyFor, maxLength: MAX_ENVELOPE_LENGTH });
    } catch (err) {
      if (!(err instanceof JweError)) throw err;
      audit(log, 'envelope.rejected', { reqId: requestId });
      throw envelopeInvalid(err);
    }
    return { ...readEnvelopePlaintext(opened.plaintext), r: opened.cek };
  }

  async function consumeAccessToken(at: string, r: Buffer, requestId?: string): Promise<ExchangedVisitToken> {
    if (!OPAQUE_TOKEN_RE.test(at)) throw atInvalid();
    // Everything that could fail is done before the AT is spent: the key that will sign, the VT's id.
    const signingKey = deps.signingKeys.current();
    const jti = newJti();
    const now = nowSeconds();
    // One atomic step (one Lua script on Redis): the VT's liveness record is written and the AT
    // replaced by a tombstone naming the VT, or nothing is written. A failure here (a store error,
    // a timeout whose outcome is unknown) is 503 and is never retried: the AT may be spent.
    const result = await store.redeem(atKey(tokenHash(at)), vtKey(jti), TOMBSTONE_PREFIX + jti, now, config.vtTtlSeconds);
    switch (result.outcome) {
      case 'absent':
      case 'refused':
        throw atInvalid();
      case 'used':
        await revokeOnReplay(store, result.tombstone, deps, requestId);
        throw atInvalid();
      case 'collision':
        throw new Problem('internal_error', undefined, { cause: new Error('VT collision') });
    }
    const atRecord = parseAccessTokenRecord(result.record)!;
    const { vt } = signVisitToken(signingKey, {
      issuer: config.issuer, userId: atRecord.userId, appId: atRecord.appId, productId: atRecord.productId,
      audience: atRecord.audience, profile: atRecord.profile, attributes: atRecord.attributes,
      ttlSeconds: config.vtTtlSeconds, now, jti,
    });
    audit(log, 'vt.issued', { appId: atRecord.appId, productId: atRecord.productId, userId: atRecord.userId, reqId: requestId });
    const reply = JSON.stringify({ vt, expiresIn: config.vtTtlSeconds, productId: atRecord.productId, userId: atRecord.userId });
    return { envelope: encryptCompact({ header: { alg: 'dir', enc: 'A256GCM' }, plaintext: reply, key: r }) };
  }

  return async function exchangeVisitToken(envelope: unknown, requestId?: string): Promise<ExchangedVisitToken> {
    const { at, r } = await openEnvelope(envelope, requestId);
    return consumeAccessToken(at, r, requestId);
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
    const reply = await service.exchange(body.envelope, ctx.state.requestId);
    noStore(ctx);
    return reply;
  });
}
