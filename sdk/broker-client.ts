/**
 * A third party's client for the broker: signs requests with the app secret (RFC 9421) and opens
 * the AT JWE with the app's encKey. A third party in another language does the same with any
 * RFC 9421 and JWE library; this file shows how little it takes.
 */
import axios, { type AxiosInstance } from 'axios';
import { decryptCompact } from '../platform/crypto/jwe.ts';
import { signRequest } from '../platform/http/signature.ts';
import type { ProblemBody } from '../platform/http/problem.ts';

export interface BrokerClientOptions {
  gatewayUrl: string;
  appId: string;
  appSecret: string;
  /** The app's 256-bit encKey, base64url. */
  encKey: string;
  timeoutMs?: number;
}

export interface AccessToken {
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

/** A refusal from the broker, with its problem body (`code` is stable). */
export class BrokerError extends Error {
  constructor(readonly status: number, readonly problem: Partial<ProblemBody>) {
    super(`${status} ${problem.code ?? 'error'}: ${problem.detail ?? ''}`);
    this.name = 'BrokerError';
  }
}

export class BrokerClient {
  private readonly http: AxiosInstance;
  private readonly encKey: Buffer;

  constructor(private readonly opts: BrokerClientOptions) {
    this.http = axios.create({ baseURL: opts.gatewayUrl, timeout: opts.timeoutMs ?? 5000, validateStatus: () => true, proxy: false });
    this.encKey = Buffer.from(opts.encKey, 'base64url');
  }

  /** Asks the gateway for a single-use AT for one of our users and one product. */
  async requestAccessToken(input: AccessTokenRequest): Promise<AccessToken> {
    const path = '/v1/access-tokens';
    const body = JSON.stringify({ userId: input.userId, productId: input.productId, audience: input.audience, profile: input.profile });
    const headers = { 'content-type': 'application/json' };
    const sig = signRequest({
      method: 'POST',
      targetUri: this.opts.gatewayUrl + path,
      headers,
      body,
      keyId: this.opts.appId,
      secret: this.opts.appSecret,
    });
    const res = await this.http.post(path, body, { headers: { ...headers, ...sig }, transformRequest: [(d) => d] });
    if (res.status !== 201) throw new BrokerError(res.status, res.data ?? {});
    const { plaintext } = decryptCompact(res.data.accessToken, { algorithms: ['A256KW'], key: () => this.encKey });
    const token = JSON.parse(plaintext.toString('utf8')) as AccessToken;
    // Never hand a user a token minted for someone or something else.
    if (token.userId !== input.userId || token.productId !== input.productId || token.audience !== input.audience) {
      throw new Error('the access token is not for this user, product and audience');
    }
    return token;
  }
}

/**
 * The H5 page address for an AT: the AT goes in the fragment, which never reaches a server. A
 * `returnUrl` (on one of the app's registered `allowedOrigins`) goes in the query: the page's
 * "Back to the app" action leads there, and it survives a reload (the AT does not).
 */
export function h5PageUrl(h5BaseUrl: string, productId: string, at: string, opts: { returnUrl?: string } = {}): string {
  const query = opts.returnUrl ? `?returnUrl=${encodeURIComponent(opts.returnUrl)}` : '';
  return `${h5BaseUrl}/h5/products/${encodeURIComponent(productId)}${query}#at=${encodeURIComponent(at)}`;
}
