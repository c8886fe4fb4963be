/** The access-token flow's settings (issuance of an AT to a signed third-party request). */
import { intSetting } from '../../platform/config/settings.ts';

export const AT_TTL_SECONDS = intSetting('AT_TTL_SECONDS', { def: 300, min: 10, max: 3600, doc: 'AT lifetime (s)' });

export const SIGNATURE_WINDOW_SECONDS = intSetting('SIGNATURE_WINDOW_SECONDS', {
  def: 300, min: 5, max: 3600,
  doc: "how far a request signature's `created` may be from the gateway's clock (s)",
});

export const ACCESS_TOKEN_SETTINGS = [AT_TTL_SECONDS, SIGNATURE_WINDOW_SECONDS] as const;
