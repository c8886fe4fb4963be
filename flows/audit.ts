import type { Logger } from 'pino';
import { audit as writeAuditLine } from '../platform/log/logger.ts';

/** Security events an operator audits: issuance, exchange, replay, revocation, refused signatures, rate limits. */
export type AuditEvent =
  | 'at.issued'
  | 'vt.issued'
  | 'vt.reissued'
  | 'at.retry_refused'
  | 'at.replayed'
  | 'vt.revoked'
  | 'signature.rejected'
  | 'envelope.rejected'
  | 'issuance.refused'
  | 'rate.limited'
  | 'countersign.refused'
  | 'countersign.approved'
  | 'countersign.redeemed';

/** Writes one audit line (`{audit: event, ...fields}`, message = the event); never a token value. */
export function audit(log: Logger, event: AuditEvent, fields: Record<string, string | number | undefined>): void {
  writeAuditLine(log, event, fields);
}
