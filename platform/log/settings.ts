/** The log's setting: its level. Read by createLogger, not part of the composed configuration. */
import { oneOfSetting } from '../config/settings.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const LOG_LEVEL = oneOfSetting('LOG_LEVEL', {
  def: 'info',
  values: LOG_LEVELS,
  doc: 'pino level; logs are JSON lines with tokens and secrets redacted',
});

export const LOG_SETTINGS = [LOG_LEVEL] as const;
