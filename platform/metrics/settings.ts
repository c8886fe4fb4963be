/** The metrics endpoint's setting. */
import { optionalSetting } from '../config/settings.ts';

export const METRICS_PORT = optionalSetting<number>('METRICS_PORT', {
  defaultText: '— (no metrics endpoint)',
  range: '0–65535, 0: any free port',
  doc: 'port of `GET /metrics` (Prometheus text; the series are in docs/metrics.md), bound on `INTERNAL_HOST`, never a public port; with workers, the primary answers for all of them (see docs/deploy.md)',
  parse: (raw) => Number(raw),
  check: (raw) => (/^\d{1,5}$/.test(raw) && Number(raw) <= 65535 ? undefined : 'must be a port, 0–65535'),
});

export const METRICS_SETTINGS = [METRICS_PORT] as const;
