import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

/** Stable error codes of the v1 contract (docs/errors.md lists what each means). */
export type ProblemCode =
  | 'invalid_request'
  | 'invalid_signature'
  | 'replayed_request'
  | 'unknown_app'
  | 'invalid_client'
  | 'at_invalid'
  | 'envelope_invalid'
  | 'vt_invalid'
  | 'forbidden_product'
  | 'unknown_product'
  | 'forbidden'
  | 'untrusted_network'
  | 'not_found'
  | 'method_not_allowed'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'uri_too_long'
  | 'headers_too_large'
  | 'request_timeout'
  | 'rate_limited'
  | 'store_unavailable'
  | 'upstream_unavailable'
  | 'internal_error';

const TITLES: Record<ProblemCode, string> = {
  invalid_request: 'The request is malformed',
  invalid_signature: 'The request signature is not valid',
  replayed_request: 'The request was already received',
  unknown_app: 'The app is not registered',
  invalid_client: 'The client credentials are not valid',
  at_invalid: 'The access token is unknown, expired or already used',
  envelope_invalid: 'The envelope cannot be opened',
  vt_invalid: 'The visit token is not valid',
  forbidden_product: 'The product is not allowed for this token or app',
  unknown_product: 'The product does not exist',
  forbidden: 'The caller is not allowed here',
  untrusted_network: 'The request did not come over a trusted network',
  not_found: 'Nothing is here',
  method_not_allowed: 'The method is not allowed here',
  unsupported_media_type: 'The content type is not supported',
  payload_too_large: 'The request body is too large',
  uri_too_long: 'The request URL is too long',
  headers_too_large: 'The request headers are too large',
  request_timeout: 'The request was not received in time',
  rate_limited: 'Too many requests',
  store_unavailable: 'The token store is unavailable',
  upstream_unavailable: 'A service behind the gateway is unavailable',
  internal_error: 'Something went wrong on our side',
};

/**
 * Headers every answer of ours carries, problems included: no MIME sniffing, no referrer, and a
 * CSP that lets a JSON answer load, run or be framed by nothing (HTML pages set their own CSP).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
});

/** Base URI of the documented problem types; `type` is this plus the code. */
export const PROBLEM_TYPE_BASE = 'https://h5-broker.dev/problems/';

/**
 * An error that becomes an RFC 9457 problem answer. `detail` is public text; `cause` is only
 * logged, so internals never reach a client.
 */
export class Problem extends Error {
  readonly status: number;
  readonly code: ProblemCode;
  readonly detail: string;
  readonly headers: Record<string, string>;
  /** RFC 9457 extension members, e.g. a readiness answer's `checks`. */
  readonly extensions: Record<string, unknown>;

  constructor(
    status: number,
    code: ProblemCode,
    detail?: string,
    opts: { cause?: unknown; headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
  ) {
    super(detail ?? TITLES[code], { cause: opts.cause });
    this.name = 'Problem';
    this.status = status;
    this.code = code;
    this.detail = detail ?? TITLES[code];
    this.headers = opts.headers ?? {};
    this.extensions = opts.extensions ?? {};
  }

  /** The RFC 9457 body. */
  toJSON(): ProblemBody {
    return { ...this.extensions, type: PROBLEM_TYPE_BASE + this.code, title: TITLES[this.code], status: this.status, detail: this.detail, code: this.code };
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
}

/** True when `body` looks like one of our problem answers (used where a service relays another's). */
export function isProblemBody(body: unknown): body is ProblemBody {
  if (!body || typeof body !== 'object') return false;
  const b = body as Record<string, unknown>;
  return typeof b.code === 'string' && b.code in TITLES && typeof b.status === 'number';
}

/** Rebuilds a Problem from a body another of our services answered with. */
export function problemFromBody(body: ProblemBody, headers: Record<string, string> = {}): Problem {
  return new Problem(body.status, body.code, body.detail, { headers });
}

/** Maps the errors Koa and its body readers throw to our codes. */
function toProblem(err: unknown): Problem {
  if (err instanceof Problem) return err;
  const e = err as { status?: number; statusCode?: number; type?: string; expose?: boolean };
  const status = e?.status ?? e?.statusCode;
  if (status === 413 || e?.type === 'entity.too.large') return new Problem(413, 'payload_too_large');
  if (status === 415) return new Problem(415, 'unsupported_media_type');
  if (status === 405 || status === 501) return new Problem(405, 'method_not_allowed');
  if (status === 404) return new Problem(404, 'not_found');
  if (status && status >= 400 && status < 500) return new Problem(status, 'invalid_request');
  return new Problem(500, 'internal_error', 'The request could not be completed.', { cause: err });
}

/** The authentication scheme a 401 names (HTTP requires WWW-Authenticate on every 401). */
function challenge(code: ProblemCode): string {
  switch (code) {
    case 'invalid_signature':
    case 'unknown_app':
    case 'replayed_request':
      return 'Signature realm="h5-broker"';
    case 'invalid_client':
      return 'Basic realm="h5-broker", charset="UTF-8"';
    default:
      return 'Bearer realm="h5-broker", error="invalid_token"';
  }
}

/** Writes a problem answer on `ctx`. */
export function sendProblem(ctx: Context, problem: Problem): void {
  ctx.status = problem.status;
  for (const [k, v] of Object.entries(problem.headers)) ctx.set(k, v);
  if (problem.status === 401 && !problem.headers['WWW-Authenticate']) ctx.set('WWW-Authenticate', challenge(problem.code));
  ctx.set('Cache-Control', 'no-store');
  // Problems leave every app, HTML page servers included, with the API answers' headers.
  ctx.set(SECURITY_HEADERS);
  ctx.type = 'application/problem+json';
  ctx.body = JSON.stringify(problem.toJSON());
}

/**
 * The one place each app turns an error into an answer: every non-2xx is problem+json, and a 5xx
 * shows nothing of its cause (the cause is logged with the request id).
 */
export function problemHandler(log: Logger) {
  return async function handleProblems(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new Problem(404, 'not_found');
      // The router answers 405 (with Allow) or 501 without a body: give them ours.
      if ((ctx.status === 405 || ctx.status === 501) && !ctx.body) throw new Problem(405, 'method_not_allowed');
    } catch (err) {
      const problem = toProblem(err);
      if (problem.status >= 500) {
        log.error({ err: problem.cause ?? err, reqId: ctx.state.requestId, code: problem.code }, 'request failed');
      }
      sendProblem(ctx, problem);
    }
  };
}
