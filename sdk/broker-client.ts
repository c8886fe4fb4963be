/**
 * The third-party backend's client for the broker (sdk/README.md): signs the AT request with the
 * app secret (RFC 9421, hmac-sha256), opens the sealed AT (A256KW with the app's encKey, or
 * RSA-OAEP-256 with its RSA private key), builds the H5 page URL, and calls introspection and
 * revocation with HTTP Basic. Every refusal is a BrokerError whose `code` is the problem code of
 * docs/errors.md. Retries only what is safe to send again (see `retryable`).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { decryptCompact, type KeyManagementAlg } from '../platform/crypto/jwe.ts';
import { signRequest } from '../platform/http/signature.ts';
import { isProblemCode, type ProblemBody, type ProblemCode } from '../protocol/problems.ts';

export interface BrokerClientOptions {
  /** Exactly the gateway's GATEWAY_PUBLIC_URL: it is signed as part of `@target-uri`. */
  gatewayUrl: string;
  appId: string;
  /** The app secret as registered: its UTF-8 bytes key the HMAC. */
  appSecret: string;
  /** The app's 256-bit encKey, base64url (apps registered with `encKey`). */
  encKey?: string;
  /** The app's RSA private key, PEM or a KeyObject (apps registered with an RSA public key). */
  rsaPrivateKey?: string | KeyObject;
  /** Where the H5 pages are (H5_PUBLIC_URL), for `h5Url`. */
  h5Url?: string;
  /** Per attempt, milliseconds; 5000 by default. */
  timeoutMs?: number;
  /** Further attempts after a retryable failure; 2 by default, 0 turns retries off. */
  retries?: number;
  /** Longest `Retry-After` (seconds) worth waiting for; a longer one is thrown at once. 5 by default. */
  maxRetryAfterSeconds?: number;
}

/** The opened AT: what the 201's `accessToken` (the sealed AT) carries. */
export interface AccessToken {
  /** The AT itself: put it in the H5 page URL's fragment, once. */
  at: string;
  productId: string;
  userId: string;
  /** The external server the VT will also be for, when the request named one. */
  audience?: string;
  /** unix seconds */
  exp: number;
}

export interface AccessTokenRequest {
  userId: string;
  productId: string;
  /** Bind the VT to this external server too (an https URL; its `aud` then names both). */
  audience?: string;
  /** A small user profile the VT carries: at most 8 string values (docs/protocol.md, section 1). */
  profile?: Record<string, string>;
}

/** RFC 7662 answer for a VT. */
export type Introspection =
  | { active: false }
  | { active: true; iss: string; sub: string; app: string; aud: string | string[]; iat: number; exp: number; jti: string; profile?: Record<string, string>; token_type: 'vt+jwt' };

/**
 * Why a call failed: a problem code of the broker (docs/errors.md), or one of the client's own:
 * `network_error` (no answer: refused, reset, timed out), `bad_response` (an answer that is not
 * what the route promises), `token_mismatch` (an AT for another user, product or audience).
 */
export type BrokerErrorCode = ProblemCode | 'network_error' | 'bad_response' | 'token_mismatch';

/** A failed call. Program against `code` (and `status`); `message` is for people. */
export class BrokerError extends Error {
  constructor(
    readonly code: BrokerErrorCode,
    readonly status: number | undefined,
    /** The problem body when the broker answered with one. */
    readonly problem: Partial<ProblemBody> = {},
    readonly opts: { retryAfter?: number; requestId?: string; attempts?: number; cause?: unknown } = {},
  ) {
    super(`${status ?? '-'} ${code}${problem.detail ? `: ${problem.detail}` : ''}`, { cause: opts.cause });
    this.name = 'BrokerError';
  }
  /** Seconds the broker asked to wait (429, 503), when it said. */
  get retryAfter(): number | undefined {
    return this.opts.retryAfter;
  }
  /** The broker's X-Request-Id: quote it when reporting a problem. */
  get requestId(): string | undefined {
    return this.opts.requestId;
  }
}

/** True when `err` is a BrokerError with this code: `if (isBrokerError(err, 'rate_limited')) …`. */
export function isBrokerError(err: unknown, code?: BrokerErrorCode): err is BrokerError {
  return err instanceof BrokerError && (code === undefined || err.code === code);
}

/**
 * Which failures a call may be sent again after. Every call of this client is safe to repeat:
 * the AT request is signed again for each attempt (a new nonce and `created`), and an AT an
 * earlier attempt may have issued without our seeing the answer expires unused; introspection
 * reads; revocation is idempotent (RFC 7009). What is retried is what may pass on its own: no
 * answer at all, 503 (`store_unavailable`, `upstream_unavailable`, `starting`), 500
 * (`internal_error`, retried once), and 429 `rate_limited` when its Retry-After is short. A 4xx
 * other than 429, a 401 above all, is never retried: sending it again gives the same answer.
 */
export function retryable(err: BrokerError, attempt: number, maxRetryAfterSeconds: number): boolean {
  if (err.code === 'network_error') return true;
  if (err.status === 503) return (err.retryAfter ?? 1) <= maxRetryAfterSeconds;
  if (err.status === 429) return err.retryAfter !== undefined && err.retryAfter <= maxRetryAfterSeconds;
  if (err.status === 500) return attempt === 1;
  return false;
}

interface Answer {
  status: number;
  text: string;
  headers: Headers;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `Authorization: Basic` as RFC 6749 section 2.3.1 wants it: id and secret form-urlencoded first. */
export function basicCredential(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`, 'utf8').toString('base64')}`;
}

export class BrokerClient {
  private readonly gatewayUrl: string;
  private readonly encKey?: Buffer;
  private readonly rsaKey?: KeyObject;

  constructor(private readonly opts: BrokerClientOptions) {
    this.gatewayUrl = opts.gatewayUrl.replace(/\/+$/, '');
    if (opts.encKey) this.encKey = Buffer.from(opts.encKey, 'base64url');
    if (opts.rsaPrivateKey) this.rsaKey = typeof opts.rsaPrivateKey === 'string' ? createPrivateKey(opts.rsaPrivateKey) : opts.rsaPrivateKey;
    if (this.encKey && this.encKey.length !== 32) throw new TypeError('encKey must be 32 bytes, base64url');
  }

  /**
   * The three headers that sign a POST of `body` to `path` (`Content-Digest`, `Signature-Input`,
   * `Signature`), with a fresh nonce and the current time; `contentType` is signed too.
   */
  sign(path: string, body: string, contentType = 'application/json'): Record<string, string> {
    const sig = signRequest({
      method: 'POST', targetUri: this.gatewayUrl + path, headers: { 'content-type': contentType }, body,
      keyId: this.opts.appId, secret: this.opts.appSecret,
    });
    return { 'Content-Type': contentType, 'Content-Digest': sig['content-digest'], 'Signature-Input': sig['signature-input'], Signature: sig.signature };
  }

  /** Asks the gateway for a single-use AT for one of our users and one product, and opens it. */
  async requestAccessToken(input: AccessTokenRequest): Promise<AccessToken> {
    const path = '/v1/access-tokens';
    const body = JSON.stringify({ userId: input.userId, productId: input.productId, audience: input.audience, profile: input.profile });
    // Signed again for each attempt: a nonce is used once, and `created` must be fresh.
    const answer = await this.send(() => ({ path, body, headers: this.sign(path, body) }), 201);
    const data = parseJson(answer) as { accessToken?: unknown };
    if (typeof data?.accessToken !== 'string') throw new BrokerError('bad_response', answer.status, {}, { requestId: answer.headers.get('x-request-id') ?? undefined });
    const token = this.openAccessToken(data.accessToken);
    // Never hand a user a token minted for someone or something else.
    if (token.userId !== input.userId || token.productId !== input.productId || token.audience !== input.audience) {
      throw new BrokerError('token_mismatch', answer.status, { detail: 'the access token is not for this user, product and audience' });
    }
    return token;
  }

  /** Opens a sealed AT (the 201's `accessToken`) with the app's key. */
  openAccessToken(accessToken: string): AccessToken {
    const algorithms: KeyManagementAlg[] = [...(this.encKey ? ['A256KW' as const] : []), ...(this.rsaKey ? ['RSA-OAEP-256' as const] : [])];
    if (!algorithms.length) throw new TypeError('give the client encKey or rsaPrivateKey to open access tokens');
    try {
      const { plaintext } = decryptCompact(accessToken, { algorithms, key: (h) => (h.alg === 'A256KW' ? this.encKey : this.rsaKey) });
      const token = JSON.parse(plaintext.toString('utf8')) as AccessToken;
      if (typeof token.at !== 'string' || typeof token.exp !== 'number') throw new Error('not an access token');
      return token;
    } catch (cause) {
      throw new BrokerError('bad_response', undefined, { detail: 'the access token cannot be opened with this app\'s key' }, { cause });
    }
  }

  /** The H5 page URL for an AT (needs `h5Url`): the AT goes in the fragment, which never reaches a server. */
  h5Url(productId: string, at: string): string {
    if (!this.opts.h5Url) throw new TypeError('give the client h5Url (H5_PUBLIC_URL) to build page URLs');
    return h5PageUrl(this.opts.h5Url, productId, at);
  }

  /** RFC 7662 introspection of a VT issued to this app. */
  async introspect(vt: string): Promise<Introspection> {
    const answer = await this.send(() => this.form('/v1/introspect', vt), 200);
    const data = parseJson(answer) as Introspection;
    if (typeof data?.active !== 'boolean') throw new BrokerError('bad_response', answer.status);
    return data;
  }

  /** RFC 7009 revocation of a VT issued to this app; resolves for any token, as the RFC says. */
  async revoke(vt: string): Promise<void> {
    await this.send(() => this.form('/v1/revoke', vt), 200);
  }

  private form(path: string, token: string) {
    return {
      path, body: new URLSearchParams({ token }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicCredential(this.opts.appId, this.opts.appSecret) },
    };
  }

  /** Sends a POST (built anew per attempt), retrying what `retryable` allows. */
  private async send(build: () => { path: string; body: string; headers: Record<string, string> }, expected: number): Promise<Answer> {
    const retries = this.opts.retries ?? 2;
    const maxWait = this.opts.maxRetryAfterSeconds ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(build(), expected, attempt);
      } catch (err) {
        if (!(err instanceof BrokerError) || attempt > retries || !retryable(err, attempt, maxWait)) throw err;
        await sleep(err.retryAfter !== undefined ? err.retryAfter * 1000 : 100 * 2 ** (attempt - 1));
      }
    }
  }

  private async attempt(req: { path: string; body: string; headers: Record<string, string> }, expected: number, attempt: number): Promise<Answer> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.gatewayUrl + req.path, { method: 'POST', headers: req.headers, body: req.body, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000), redirect: 'error' });
      text = await res.text();
    } catch (cause) {
      throw new BrokerError('network_error', undefined, { detail: 'the broker did not answer' }, { cause, attempts: attempt });
    }
    const answer = { status: res.status, text, headers: res.headers };
    if (res.status === expected) return answer;
    const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
    const requestId = res.headers.get('x-request-id') ?? undefined;
    let problem: Partial<ProblemBody> = {};
    try {
      problem = JSON.parse(text) as Partial<ProblemBody>;
    } catch {
      // not a problem body: bad_response below
    }
    const code: BrokerErrorCode = isProblemCode(problem?.code) ? problem.code : 'bad_response';
    throw new BrokerError(code, res.status, problem ?? {}, { retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined, requestId, attempts: attempt });
  }
}

function parseJson(answer: Answer): unknown {
  try {
    return JSON.parse(answer.text);
  } catch (cause) {
    throw new BrokerError('bad_response', answer.status, {}, { cause });
  }
}

/**
 * The H5 page address for an AT: the AT goes in the fragment, which never reaches a server. A
 * `returnUrl` (on one of the app's registered `allowedOrigins`) goes in the query: the page's
 * "Back to the app" action leads there, and it survives a reload (the AT does not).
 */
export function h5PageUrl(h5BaseUrl: string, productId: string, at: string, opts: { returnUrl?: string } = {}): string {
  const query = opts.returnUrl ? `?returnUrl=${encodeURIComponent(opts.returnUrl)}` : '';
  return `${h5BaseUrl.replace(/\/+$/, '')}/h5/products/${encodeURIComponent(productId)}${query}#at=${encodeURIComponent(at)}`;
}
