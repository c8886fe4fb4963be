/** The HTTP plumbing's setting: how long a call to an upstream service may take. */
import { intSetting } from '../config/settings.ts';

export const UPSTREAM_TIMEOUT_MS = intSetting('UPSTREAM_TIMEOUT_MS', {
  def: 5000, min: 100, max: 60_000,
  doc: "timeout of the gateway's calls to auth and product backends (ms)",
});

export const HTTP_SETTINGS = [UPSTREAM_TIMEOUT_MS] as const;
