import { audienceProblem } from '../apps/audience.ts';
import { encryptCompact } from '../../platform/crypto/jwe.ts';
import { audit } from '../audit.ts';
import { field, noStore, readJsonBody } from '../../platform/http/body.ts';
import { ATTRIBUTE_VALUE_RE, profileProblem, type Profile } from '../apps/profile.ts';
import { Problem } from '../../platform/http/problem.ts';
import type { AppEntry } from '../apps/registry.ts';
import { atKey, type AccessTokenRecord } from './records.ts';
import { newOpaqueToken, tokenHash } from '../../platform/crypto/opaque.ts';
import { nowSeconds } from '../../platform/time.ts';
import type { AuthDeps } from '../deps.ts';
import { mountInternalRoute } from '../../platform/http/upstream.ts';
import type { AppRouter, RequestMiddleware } from '../../platform/http/state.ts';
import { ACCESS_TOKEN_ROUTES, type AccessTokenService, type IssuedAccessToken } from './seam.ts';
import { counter } from '../../platform/metrics/index.ts';

/** ATs issued (stored); refusals are counted by code in broker_http_problems_total. */
const issued = counter('broker_access_tokens_issued_total', 'Access tokens issued');

export type { IssuedAccessToken } from './seam.ts';

export const USER_ID_RE = /^[\x21-\x7e]{1,128}$/;
export const PRODUCT_ID_RE = /^[a-z0-9-]{1,64}$/;
const APP_ID_RE = /^[A-Za-z0-9._-]{3,64}$/;

const invalid = (detail: string) => new Problem('invalid_request', detail);

/**
 * The external server the VT is also for: absent, or one of the URLs registered for this app
 * (flows/apps/audience.ts); an app registered without `audiences` may name none.
 */
function readAudience(body: Record<string, unknown>, app: AppEntry, allowLoopbackHttp: boolean): string | undefined {
  const audience = body.audience;
  if (audience === undefined) return undefined;
  const problem = audienceProblem(audience, { allowLoopbackHttp });
  if (problem) throw invalid(`"audience" ${problem}.`);
  if (!app.audiences?.includes(audience as string)) throw invalid('"audience" is not one of the audiences registered for this app.');
  return audience as string;
}

/** The third party's user profile: absent, or a small map of strings (flows/apps/profile.ts). */
function readProfile(body: Record<string, unknown>): Profile | undefined {
  const profile = body.profile;
  if (profile === undefined) return undefined;
  const problem = profileProblem(profile);
  if (problem) throw invalid(`"profile" ${problem}.`);
  return Object.keys(profile as Profile).length > 0 ? { ...(profile as Profile) } : undefined;
}

/**
 * The operator's attributes, which only the gateway sets: exactly the app's `requiredHeader`
 * claim when it has one, none otherwise. Checked here too, so that auth never carries into a
 * token something the registry does not say an operator vouches for.
 */
function readAttributes(body: Record<string, unknown>, app: AppEntry): Profile | undefined {
  const raw = body.attributes;
  const claim = app.requiredHeader?.claim;
  if (raw === undefined && claim === undefined) return undefined;
  const single = !!raw && typeof raw === 'object' && !Array.isArray(raw) && Object.keys(raw).length === 1;
  const value = claim !== undefined && single && Object.hasOwn(raw, claim) ? (raw as Record<string, unknown>)[claim] : undefined;
  if (typeof value !== 'string' || !ATTRIBUTE_VALUE_RE.test(value)) throw invalid('"attributes" do not match the app\'s registered edge header.');
  return { [claim!]: value };
}

/**
 * Issues a single-use AT for a request the gateway verified: checks the fields, stores the AT
 * under its hash, and returns it as a JWE only the app can open. Throws Problem. The same for
 * `POST /internal/access-tokens` and for a gateway in this process (createAccessTokenService).
 */
function accessTokenIssuer(deps: AuthDeps) {
  const { store, registry, config, log } = deps;
  // Plain http audiences only for loopback hosts, and never in production.
  const allowLoopbackHttp = config.nodeEnv !== 'production';
  return async function issueAccessToken(body: Record<string, unknown>, requestId?: string): Promise<IssuedAccessToken> {
    const appId = field(body, 'appId', APP_ID_RE);
    const userId = field(body, 'userId', USER_ID_RE, '"userId" must be 1-128 visible ASCII characters.');
    const productId = field(body, 'productId', PRODUCT_ID_RE, '"productId" must be a product id.');
    const app = registry.get(appId);
    if (!app) throw new Problem('unknown_app', 'No app is registered under this id.');
    if (!app.products.includes(productId)) throw new Problem('forbidden_product', `The app may not open product "${productId}".`);
    const audience = readAudience(body, app, allowLoopbackHttp);
    const profile = readProfile(body);
    const attributes = readAttributes(body, app);

    const at = newOpaqueToken();
    const exp = nowSeconds() + config.atTtlSeconds;
    const record: AccessTokenRecord = {
      typ: 'at', appId, userId, productId, ...(audience && { audience }), ...(profile && { profile }), ...(attributes && { attributes }), exp,
    };
    // NX: an AT is written once; a collision of 256 random bits would be a broken RNG, not luck.
    if (!(await store.setIfAbsent(atKey(tokenHash(at)), JSON.stringify(record), config.atTtlSeconds))) {
      throw new Problem('internal_error', undefined, { cause: new Error('AT collision') });
    }
    const plaintext = JSON.stringify({ at, productId, userId, ...(audience && { audience }), exp });
    const accessToken = app.encKey
      ? encryptCompact({ header: { alg: 'A256KW', enc: 'A256GCM' }, plaintext, key: app.encKey })
      : encryptCompact({ header: { alg: 'RSA-OAEP-256', enc: 'A256GCM' }, plaintext, key: app.publicKey! });
    issued.inc();
    audit(log, 'at.issued', { appId, productId, userId, audience, reqId: requestId });
    return { accessToken, expiresIn: config.atTtlSeconds };
  };
}

/** Auth's implementation of the flow's seam; a gateway in auth's process calls it directly (decision 33). */
export function createAccessTokenService(deps: AuthDeps): AccessTokenService {
  return { issue: accessTokenIssuer(deps) };
}

/**
 * Mounts the flow's internal half on auth's router, behind `internal` (the internal credential):
 * `POST /internal/access-tokens` (from the gateway, after it verified the app's signature) issues
 * a single-use AT and returns it as a JWE only the app can open.
 */
export function mountAccessTokenService(router: AppRouter, service: AccessTokenService, internal: RequestMiddleware): void {
  mountInternalRoute(router, ACCESS_TOKEN_ROUTES.issue, internal, async function issueAccessTokenAction(ctx) {
    const { body } = await readJsonBody(ctx, { limit: 4096 });
    const issued = await service.issue(body, ctx.state.requestId);
    noStore(ctx);
    return issued;
  });
}
