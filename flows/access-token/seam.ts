/**
 * The access-token flow's seam between gateway and auth: what the gateway asks of auth, as one
 * typed interface, with its route defined once. Auth implements it (service.ts
 * createAccessTokenService) and serves it on that route (mountAccessTokenService); a gateway in
 * auth's process is handed auth's implementation itself, one in another process this HTTP client.
 */
import { unexpectedAnswer, type InternalClient, type InternalRoute } from '../../platform/http/upstream.ts';

/**
 * What the gateway sends for a request whose signature it verified: the app's id, the third
 * party's fields as it sent them, and the operator's attributes from the edge header. Every
 * field is `unknown` here because auth checks each one itself (over HTTP they arrive as any JSON).
 */
export type AccessTokenRequest = {
  appId?: unknown;
  userId?: unknown;
  productId?: unknown;
  audience?: unknown;
  profile?: unknown;
  attributes?: unknown;
};

/** What auth answers for an issued AT. */
export interface IssuedAccessToken {
  accessToken: string;
  expiresIn: number;
}

/** Auth's operations of this flow. Each throws Problem. */
export interface AccessTokenService {
  /** Issues a single-use AT for a request the gateway verified. */
  issue(request: AccessTokenRequest, requestId?: string): Promise<IssuedAccessToken>;
}

/** The routes auth serves this flow's operations on (internal: the gateway only). */
export const ACCESS_TOKEN_ROUTES = {
  issue: { method: 'POST', path: '/internal/access-tokens', status: 201 },
} as const satisfies Record<keyof AccessTokenService, InternalRoute>;

/** AccessTokenService over HTTP: auth in another process. */
export function accessTokenClient(auth: InternalClient): AccessTokenService {
  return {
    async issue(request, requestId) {
      const data = await auth.call(ACCESS_TOKEN_ROUTES.issue, request, requestId);
      const issued = data as Partial<IssuedAccessToken> | undefined;
      if (typeof issued?.accessToken !== 'string' || typeof issued.expiresIn !== 'number') throw unexpectedAnswer(auth.name, 'not an issued access token');
      return { accessToken: issued.accessToken, expiresIn: issued.expiresIn };
    },
  };
}
