/** The countersign flow's settings. */
import { intSetting } from '../../platform/config/settings.ts';

export const COUNTERSIGN_TTL_SECONDS = intSetting('COUNTERSIGN_TTL_SECONDS', {
  def: 300, min: 1, max: 3600, doc: 'lifetime of a countersign application, its to-be-signed object and its grant (s)',
});
export const COUNTERSIGN_POLL_INTERVAL_SECONDS = intSetting('COUNTERSIGN_POLL_INTERVAL_SECONDS', {
  def: 2, min: 1, max: 60, doc: 'least time between two polls of one countersign application (`interval`; a faster poll gets `slow_down`)',
});
export const COUNTERSIGN_APPLICATIONS_PER_WINDOW = intSetting('COUNTERSIGN_APPLICATIONS_PER_WINDOW', {
  def: 10, min: 1, max: 1000, doc: 'countersign applications one user may make per window, from all relays together (no push-bombing)',
});
export const COUNTERSIGN_WINDOW_SECONDS = intSetting('COUNTERSIGN_WINDOW_SECONDS', {
  def: 600, min: 1, max: 86400, doc: 'the window of `COUNTERSIGN_APPLICATIONS_PER_WINDOW` (s)',
});

export const COUNTERSIGN_SETTINGS = [COUNTERSIGN_TTL_SECONDS, COUNTERSIGN_POLL_INTERVAL_SECONDS, COUNTERSIGN_APPLICATIONS_PER_WINDOW, COUNTERSIGN_WINDOW_SECONDS] as const;

/** The flow's configuration as auth reads it. */
export interface CountersignConfig {
  ttlSeconds: number;
  pollIntervalSeconds: number;
  applicationsPerWindow: number;
  windowSeconds: number;
}

export const COUNTERSIGN_DEFAULTS: CountersignConfig = { ttlSeconds: 300, pollIntervalSeconds: 2, applicationsPerWindow: 10, windowSeconds: 600 };
