import type { DestinationStream, Logger } from 'pino';
import { createLogger } from '../platform/log/logger.ts';

/**
 * Paths pino blanks before a line is written: the broker's credentials, tokens, secrets, keys and
 * envelopes never reach a log line, even when a developer logs a whole request or body by mistake.
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

/** The broker's logger: platform's JSON logger with the broker's redaction. */
export function createBrokerLogger(name: string, level?: string, destination?: DestinationStream): Logger {
  return createLogger(name, REDACT_PATHS, level, destination);
}
