/**
 * The gate: a Koa middleware for one route. A request passes with a valid pass (cookie or
 * `Broker-Pass` header; or a user pass, a single-use JWS signed by a registered device key, in the
 * header: user-pass.ts) or a valid, unspent solution (`Broker-PoW` header) to a challenge issued
 * for this method and path; anything else is `401 pow_required` with a fresh challenge, in the
 * body (`altcha`, ALTCHA v1's challenge JSON) and in `WWW-Authenticate: BrokerPoW …`.
 */
import type { Next } from 'koa';
import { Problem } from '../../platform/http/problem.ts';
import { createNetworkList, resolveClientAddress } from '../../platform/net/client-address.ts';
import { nowSeconds } from '../../platform/time.ts';
import type { TokenStore } from '../../platform/store/index.ts';
import type { RequestContext } from '../../platform/http/state.ts';
import { addressSubject } from '../rate-limit/limiter.ts';
import { createChallenge, verifySolution, type AltchaChallenge } from './altcha.ts';
import { checkPass } from './pass.ts';
import { checkUserPass, looksLikeUserPass } from './user-pass.ts';
import type { KeyRegistry } from '../countersign/registry.ts';
import type { SecretRing } from './records.ts';
import { difficultyFor } from './difficulty.ts';
import { countEvent, countFailure } from './metrics.ts';
import type { ChallengeConfig } from './settings.ts';

/** The request header that carries a solution: base64(JSON {algorithm, challenge, number, salt, signature}). */
export const SOLUTION_HEADER = 'Broker-PoW';
/** The request header that carries a pass where the cookie does not come back. */
export const PASS_HEADER = 'Broker-Pass';
/** The pass cookie: `__Host-` over https; the plain name over http in development. */
export const PASS_COOKIE = 'broker_pass';
export const PASS_COOKIE_SECURE = `__Host-${PASS_COOKIE}`;
/** Our `WWW-Authenticate` scheme. */
export const POW_SCHEME = 'BrokerPoW';

/** The pass a request carries: the header's, else the cookie's. */
export function passOf(ctx: RequestContext): string | undefined {
  const header = ctx.get(PASS_HEADER.toLowerCase());
  if (header) return header;
  return ctx.cookies.get(PASS_COOKIE_SECURE) ?? ctx.cookies.get(PASS_COOKIE) ?? undefined;
}

/** `WWW-Authenticate` for a challenge: our scheme with ALTCHA's fields as auth-params. */
export function powChallengeHeader(c: AltchaChallenge): string {
  return `${POW_SCHEME} realm="h5-broker", algorithm="${c.algorithm}", challenge="${c.challenge}", maxnumber=${c.maxnumber}, salt="${c.salt}", signature="${c.signature}"`;
}

const WHAT_TO_DO = `Solve the proof-of-work challenge in "altcha" (ALTCHA v1: find the number n, 0 <= n <= maxnumber, with SHA-256(salt + n) = challenge, as hex) and send the same request again with the header "${SOLUTION_HEADER}: base64(JSON {algorithm, challenge, number, salt, signature})"; or send a valid pass (its cookie, or the "${PASS_HEADER}" header).`;

export interface GateDeps {
  store: TokenStore;
  secrets: SecretRing;
  config: ChallengeConfig;
  trustedProxies?: readonly string[];
  /** The countersign flow's registered device keys: a user pass (`Broker-Pass` header, a compact JWS) is checked against them. */
  deviceKeys?: KeyRegistry;
}

/** The gate for one route; `routeName` is what the log and the metrics call it. */
export function createGate(deps: GateDeps, routeName: string) {
  const trusted = createNetworkList(deps.trustedProxies ?? []);
  return async function challengeGate(ctx: RequestContext, next: Next): Promise<void> {
    if (ctx.method === 'OPTIONS') return next();
    const now = nowSeconds();
    let why = 'This route asks for a proof of work.';
    const pass = passOf(ctx);
    const header = ctx.get(PASS_HEADER.toLowerCase());
    if (header && deps.deviceKeys && looksLikeUserPass(header)) {
      // The user variant: signed by the client's registered device key, single-use, in the header only.
      const checked = await checkUserPass({ store: deps.store, secrets: deps.secrets, registry: deps.deviceKeys }, header, { origin: ctx.get('origin') || undefined, method: ctx.method, path: ctx.path }, now);
      if (checked.ok) {
        countEvent('bypassed');
        return next();
      }
      why = 'The user pass sent is not valid here (expired, used, for another origin or route, its nonce stale, or its key not an active device key of that user).';
    } else if (pass) {
      const checked = await checkPass(deps.store, deps.secrets, pass, ctx.get('origin') || undefined, now);
      if (checked.ok) {
        countEvent('bypassed');
        return next();
      }
      why = 'The pass sent is not valid here (expired, revoked, for another origin, or not ours).';
    }
    const solution = ctx.get(SOLUTION_HEADER.toLowerCase());
    if (solution) {
      const result = await verifySolution(deps.store, deps.secrets, solution, { method: ctx.method, path: ctx.path }, now);
      if (result.ok) {
        countEvent('solved');
        return next();
      }
      countFailure(result.reason);
      why = result.reason === 'replayed' ? 'This solution was already used.' : 'The solution sent is not valid for this request.';
    }
    const client = resolveClientAddress(ctx.req.socket.remoteAddress, ctx.get('x-forwarded-for') || undefined, trusted);
    const { maxnumber } = await difficultyFor(deps.store, deps.config, addressSubject(client.address));
    const keys = await deps.secrets.current(now);
    const challenge = createChallenge(keys, { method: ctx.method, path: ctx.path }, maxnumber, now + deps.config.ttlSeconds);
    countEvent('issued');
    throw new Problem('pow_required', `${why} ${WHAT_TO_DO}`, {
      headers: { 'WWW-Authenticate': powChallengeHeader(challenge) },
      extensions: { altcha: challenge },
    });
  };
}
