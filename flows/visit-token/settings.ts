/** The visit-token flow's settings (the envelope exchange of an AT for a VT). */
import { intSetting } from '../../platform/config/settings.ts';

export const VT_TTL_SECONDS = intSetting('VT_TTL_SECONDS', { def: 1800, min: 60, max: 86400, doc: 'VT lifetime (s)' });

export const VISIT_TOKEN_SETTINGS = [VT_TTL_SECONDS] as const;
