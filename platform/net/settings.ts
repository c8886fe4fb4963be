/** The client address's setting: which proxies' forwarded headers count. */
import { listSetting } from '../config/settings.ts';
import { parseCidr } from './client-address.ts';

export const TRUSTED_PROXIES = listSetting('TRUSTED_PROXIES', {
  defaultText: '— (none)',
  range: 'IPs or CIDR ranges, IPv4/IPv6, comma-separated',
  doc: "proxies in front of the gateway. Only when a request comes from one of them does the gateway read `X-Forwarded-For` (right to left, skipping these proxies) and believe an app's `requiredHeader`; otherwise the socket's address is the client",
  check: (p) => {
    try {
      parseCidr(p);
      return undefined;
    } catch (err) {
      return `${(err as Error).message} (expected IPs or CIDR ranges, comma-separated)`;
    }
  },
});

export const NET_SETTINGS = [TRUSTED_PROXIES] as const;
