/**
 * The rate limits' settings: for each limit `RATE_LIMIT_<NAME>` (requests per window, or `0`/`off`)
 * and `RATE_LIMIT_<NAME>_WINDOW_SECONDS`.
 */
import { ConfigError, type Env } from '../../platform/config/env.ts';
import { customSetting, intSetting, type Setting } from '../../platform/config/settings.ts';
import { MAX_RATE_LIMIT, MAX_RATE_WINDOW_SECONDS, type RateLimitRule, type RateLimits } from './limiter.ts';

/**
 * The defaults are meant never to bind on real traffic, only on a runaway client: issuance is a
 * whole app's traffic (100/s on average, a campaign's spike of 6000 at once); one public IPv4 may be
 * a carrier's CGNAT with thousands of subscribers behind it (50 page openings/s, 3000 at once);
 * a VT is one page session (5 calls/s on average, 300 at once).
 */
export const RATE_LIMIT_DEFAULTS: Readonly<Required<RateLimits>> = Object.freeze({
  issuance: { limit: 6000, windowSeconds: 60 },
  exchange: { limit: 3000, windowSeconds: 60 },
  product: { limit: 300, windowSeconds: 60 },
});

/** `<name>`: requests per window; `0` (or `off`) is off. */
function limitSetting(name: string, def: number, doc: string): Setting<number> {
  return customSetting(name, {
    defaultText: `\`${def}\``,
    range: `1–${MAX_RATE_LIMIT}, \`0\` or \`off\`: no limit`,
    doc,
    read: (env: Env) => {
      const raw = env[name];
      if (raw === undefined || raw === '') return def;
      if (raw.toLowerCase() === 'off') return 0;
      if (!/^\d+$/.test(raw) || Number(raw) > MAX_RATE_LIMIT) {
        throw new ConfigError(name, `must be a whole number of requests per window between 1 and ${MAX_RATE_LIMIT}, or 0 or "off" to turn the limit off, got "${raw}"`);
      }
      return Number(raw);
    },
  });
}

function windowSetting(name: string, def: number): Setting<number> {
  return intSetting(`${name}_WINDOW_SECONDS`, { def, min: 1, max: MAX_RATE_WINDOW_SECONDS, doc: `the window of \`${name}\` (s)` });
}

const d = RATE_LIMIT_DEFAULTS;
export const RATE_LIMIT_ISSUANCE = limitSetting('RATE_LIMIT_ISSUANCE', d.issuance.limit, "AT issuances per app per window (an app's registry `rateLimit` replaces it for that app)");
export const RATE_LIMIT_ISSUANCE_WINDOW_SECONDS = windowSetting('RATE_LIMIT_ISSUANCE', d.issuance.windowSeconds);
export const RATE_LIMIT_EXCHANGE = limitSetting('RATE_LIMIT_EXCHANGE', d.exchange.limit, 'VT exchanges per client address (an IPv6 client per /64; 6to4, NAT64 `64:ff9b::/96` and Teredo addresses per the IPv4 address they carry) per window');
export const RATE_LIMIT_EXCHANGE_WINDOW_SECONDS = windowSetting('RATE_LIMIT_EXCHANGE', d.exchange.windowSeconds);
export const RATE_LIMIT_PRODUCT = limitSetting('RATE_LIMIT_PRODUCT', d.product.limit, 'product calls per VT per window');
export const RATE_LIMIT_PRODUCT_WINDOW_SECONDS = windowSetting('RATE_LIMIT_PRODUCT', d.product.windowSeconds);

export const RATE_LIMIT_SETTINGS = [
  RATE_LIMIT_ISSUANCE, RATE_LIMIT_ISSUANCE_WINDOW_SECONDS,
  RATE_LIMIT_EXCHANGE, RATE_LIMIT_EXCHANGE_WINDOW_SECONDS,
  RATE_LIMIT_PRODUCT, RATE_LIMIT_PRODUCT_WINDOW_SECONDS,
] as const;

/** One limit: its window is read first, then its count; undefined when it is off. */
function rule(env: Env, limit: Setting<number>, window: Setting<number>): RateLimitRule | undefined {
  const windowSeconds = window.read(env);
  const n = limit.read(env);
  return n === 0 ? undefined : { limit: n, windowSeconds };
}

/** The gateway's three limits from the environment, frozen; an absent one is off. */
export function readRateLimits(env: Env): Readonly<RateLimits> {
  return Object.freeze({
    issuance: rule(env, RATE_LIMIT_ISSUANCE, RATE_LIMIT_ISSUANCE_WINDOW_SECONDS),
    exchange: rule(env, RATE_LIMIT_EXCHANGE, RATE_LIMIT_EXCHANGE_WINDOW_SECONDS),
    product: rule(env, RATE_LIMIT_PRODUCT, RATE_LIMIT_PRODUCT_WINDOW_SECONDS),
  });
}
