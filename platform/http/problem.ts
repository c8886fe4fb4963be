import type { Context, Next, ParameterizedContext } from 'koa';
import type { RequestState } from './state.ts';
import type { Logger } from 'pino';
import { PROBLEMS, PROBLEM_TYPE_BASE, isProblemCode, type ProblemBody, type ProblemCode, type ProblemType } from '../../protocol/problems.ts';

export type { ProblemBody, ProblemCode } from '../../protocol/problems.ts';

/**
 * Headers every answer of ours carries, problems included: no MIME sniffing, no referrer, and a
 * CSP that lets a JSON answer load, run or be framed by nothing (HTML pages set their own CSP).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
});

/**
 * Characters a detail never carries as they are: controls (C0, DEL, C1), format characters (bidi
 * controls and overrides, zero-width characters, the BOM), lone surrogates, and the line and
 * paragraph separators.
 */
const UNSHOWABLE_RE = /[\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]/gu;

/**
 * `detail` with every unshowable character written as a `\uXXXX` (or `\u{XXXXX}`) escape, so that
 * client input quoted in a detail (a field name, a header value) can never carry a NUL, an ESC
 * sequence for a terminal or a bidi override into a log viewer or a page.
 */
export function safeDetail(detail: string): string {
  return detail.replace(UNSHOWABLE_RE, (c) => {
    const cp = c.codePointAt(0)!;
    return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
}

/**
 * An error that becomes an RFC 9457 problem answer. `detail` is public text (control and format
 * characters escaped, `safeDetail`); `cause` is only logged, so internals never reach a client.
 */
export class Problem extends Error {
  readonly status: number;
  readonly code: ProblemCode;
  readonly detail: string;
  readonly headers: Record<string, string>;
  /** RFC 9457 extension members, e.g. a readiness answer's `checks`. */
  readonly extensions: Record<string, unknown>;

  /**
   * The status is the code's in the problem table (protocol/problems.ts); `opts.status` gives
   * another only where the table allows one (a 502 `upstream_unavailable`, a Koa 4xx).
   */
  constructor(
    code: ProblemCode,
    detail?: string,
    opts: { cause?: unknown; headers?: Record<string, string>; extensions?: Record<string, unknown>; status?: number } = {},
  ) {
    const shown = safeDetail(detail ?? PROBLEMS[code].title);
    super(shown, { cause: opts.cause });
    this.name = 'Problem';
    this.status = opts.status ?? PROBLEMS[code].status;
    this.code = code;
    this.detail = shown;
    this.headers = opts.headers ?? {};
    this.extensions = opts.extensions ?? {};
  }

  /** The RFC 9457 body. */
  toJSON(): ProblemBody {
    return { ...this.extensions, type: PROBLEM_TYPE_BASE + this.code, title: PROBLEMS[this.code].title, status: this.status, detail: this.detail, code: this.code };
  }
}

/** True when `body` looks like one of our problem answers (used where a service relays another's). */
export function isProblemBody(body: unknown): body is ProblemBody {
  if (!body || typeof body !== 'object') return false;
  const b = body as Record<string, unknown>;
  return isProblemCode(b.code) && typeof b.status === 'number';
}

/** Rebuilds a Problem from a body another of our services answered with. */
export function problemFromBody(body: ProblemBody, headers: Record<string, string> = {}): Problem {
  return new Problem(body.code, body.detail, { headers, status: body.status });
}

/** Maps the errors Koa and its body readers throw to our codes. */
function toProblem(err: unknown): Problem {
  if (err instanceof Problem) return err;
  const e = err as { status?: number; statusCode?: number; type?: string; expose?: boolean };
  const status = e?.status ?? e?.statusCode;
  if (status === 413 || e?.type === 'entity.too.large') return new Problem('payload_too_large');
  if (status === 415) return new Problem('unsupported_media_type');
  if (status === 405 || status === 501) return new Problem('method_not_allowed');
  if (status === 404) return new Problem('not_found');
  if (status && status >= 400 && status < 500) return new Problem('invalid_request', undefined, { status });
  return new Problem('internal_error', 'The request could not be completed.', { cause: err });
}

/** The scheme a 401 names (HTTP requires WWW-Authenticate on every 401): the table's, else Bearer. */
function challengeOf(code: ProblemCode): string {
  const type: ProblemType = PROBLEMS[code];
  return type.challenge ?? PROBLEMS.vt_invalid.challenge;
}

/** Writes a problem answer on `ctx`. */
export function sendProblem(ctx: Context, problem: Problem): void {
  ctx.status = problem.status;
  for (const [k, v] of Object.entries(problem.headers)) ctx.set(k, v);
  if (problem.status === 401 && !problem.headers['WWW-Authenticate']) ctx.set('WWW-Authenticate', challengeOf(problem.code));
  ctx.set('Cache-Control', 'no-store');
  // Problems leave every app, HTML page servers included, with the API answers' headers.
  ctx.set(SECURITY_HEADERS);
  ctx.type = 'application/problem+json';
  ctx.body = JSON.stringify(problem.toJSON());
  // For the request's metrics (platform/http/metrics.ts): the code, without parsing the body.
  ctx.state.problemCode = problem.code;
}

/**
 * The one place each app turns an error into an answer: every non-2xx is problem+json, and a 5xx
 * shows nothing of its cause (the cause is logged with the request id).
 */
export function problemHandler(log: Logger) {
  return async function handleProblems(ctx: ParameterizedContext<RequestState>, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new Problem('not_found');
      // The router answers 405 (with Allow) or 501 without a body: give them ours.
      if ((ctx.status === 405 || ctx.status === 501) && !ctx.body) throw new Problem('method_not_allowed');
    } catch (err) {
      const problem = toProblem(err);
      if (problem.status >= 500) {
        log.error({ err: problem.cause ?? err, reqId: ctx.state.requestId, code: problem.code }, 'request failed');
      }
      sendProblem(ctx, problem);
    }
  };
}
