import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Paths pino blanks before a line is written. Tokens, secrets, keys and envelopes never reach a
 * log line, even when a developer logs a whole request or body by mistake.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.signature',
  'req.headers["signature-input"]',
  'req.headers["x-broker-internal"]',
  'req.headers["x-broker-vt"]',
  'headers.authorization',
  'body.envelope',
  'body.accessToken',
  '*.at',
  '*.vt',
  '*.token',
  '*.accessToken',
  '*.envelope',
  '*.appSecret',
  '*.encKey',
  '*.secret',
  '*.privateKey',
  '*.d',
];

/** Creates the service logger: JSON lines, redacted, level from `LOG_LEVEL`. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * Gives each request an id (a well-formed incoming `X-Request-Id` is kept, so one id follows a
 * request through gateway and auth), echoes it, and writes one line per request.
 */
export function requestLog(log: Logger) {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID_RE.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The path only: query strings and fragments can carry tokens in badly built clients.
      log.info({ reqId: requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 100) / 100 }, 'request');
    }
  };
}

/** Security events an operator audits: issuance, exchange, replay, revocation, refused signatures, rate limits. */
export type AuditEvent = 'at.issued' | 'vt.issued' | 'vt.reissued' | 'at.retry_refused' | 'at.replayed' | 'vt.revoked' | 'signature.rejected' | 'envelope.rejected' | 'issuance.refused' | 'rate.limited';

/** Writes one audit line: the event, who, and why; never a token value. */
export function audit(log: Logger, event: AuditEvent, fields: Record<string, string | number | undefined>): void {
  log.info({ audit: event, ...fields }, event);
}
