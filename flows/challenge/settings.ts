/**
 * The proof-of-work gate's settings (flows/challenge): which routes are gated, the difficulty
 * (aimed at a wall-time target on a mid-range phone, raised per client address under load up to a
 * cap), and the lifetimes of a challenge and of a pass. The gate is off unless CHALLENGE_ROUTES
 * names routes (decision 50): on in production is recommended.
 */
import type { Env } from '../../platform/config/env.ts';
import { intSetting, listSetting, type Setting } from '../../platform/config/settings.ts';

/** The routes the gate can guard, by name. */
export const GATED_ROUTES = ['exchange', 'product'] as const;
export type GatedRoute = (typeof GATED_ROUTES)[number];

export const CHALLENGE_ROUTES = listSetting('CHALLENGE_ROUTES', {
  defaultText: '— (the gate is off)',
  range: '`exchange`, `product`, comma-separated',
  doc: 'routes a client must pass the proof-of-work gate for (flows/challenge): `exchange` is `POST /v1/visit-tokens`, `product` is `GET /v1/products/…`; recommended in production: `exchange,product`',
  check: (r) => ((GATED_ROUTES as readonly string[]).includes(r) ? undefined : `must name routes among ${GATED_ROUTES.join(', ')}, got "${r}"`),
});
export const CHALLENGE_TARGET_MS = intSetting('CHALLENGE_TARGET_MS', {
  def: 1000, min: 1, max: 60_000,
  doc: 'the average time a mid-range phone should take to solve a challenge at base difficulty (ms)',
});
export const CHALLENGE_HASH_RATE = intSetting('CHALLENGE_HASH_RATE', {
  def: 50_000, min: 1, max: 100_000_000,
  doc: 'SHA-256 hashes per second a mid-range phone computes in the page\'s solver; with CHALLENGE_TARGET_MS it sets the base `maxnumber` (2 × rate × target: on average half of it is searched)',
});
export const CHALLENGE_MAX_FACTOR = intSetting('CHALLENGE_MAX_FACTOR', {
  def: 8, min: 1, max: 64,
  doc: 'the cap of the difficulty raised for a flooding address, as a multiple of the base (kept low for accessibility: slow phones must still pass)',
});
export const CHALLENGE_FREE_PER_MINUTE = intSetting('CHALLENGE_FREE_PER_MINUTE', {
  def: 60, min: 1, max: 1_000_000,
  doc: 'challenges per client address (an IPv6 client per /64) per minute at base difficulty; each further batch of as many doubles the difficulty, up to CHALLENGE_MAX_FACTOR',
});
export const CHALLENGE_TTL_SECONDS = intSetting('CHALLENGE_TTL_SECONDS', {
  def: 300, min: 10, max: 3600,
  doc: 'how long a challenge may be solved and its solution sent (s); a solution is spent once within it',
});
export const CHALLENGE_PASS_TTL_SECONDS = intSetting('CHALLENGE_PASS_TTL_SECONDS', {
  def: 300, min: 10, max: 3600,
  doc: 'the lifetime of a signed pass (s): a stolen pass dies within it unless refreshed with the page\'s key',
});
export const CHALLENGE_PASS_MAX_AGE_SECONDS = intSetting('CHALLENGE_PASS_MAX_AGE_SECONDS', {
  def: 43_200, min: 60, max: 86_400,
  doc: 'how long after its issuance a pass may still be refreshed against a server nonce (s); then the client solves a challenge again',
});

export const CHALLENGE_SETTINGS = [
  CHALLENGE_ROUTES, CHALLENGE_TARGET_MS, CHALLENGE_HASH_RATE, CHALLENGE_MAX_FACTOR, CHALLENGE_FREE_PER_MINUTE,
  CHALLENGE_TTL_SECONDS, CHALLENGE_PASS_TTL_SECONDS, CHALLENGE_PASS_MAX_AGE_SECONDS,
] as const satisfies readonly Setting[];

/** The gate's configuration, as GatewayDeps carries it. */
export interface ChallengeConfig {
  routes: readonly GatedRoute[];
  /** The base `maxnumber`: 2 × hash rate × target (s), at least 1000. */
  baseMaxNumber: number;
  maxFactor: number;
  freePerMinute: number;
  ttlSeconds: number;
  passTtlSeconds: number;
  passMaxAgeSeconds: number;
}

export function readChallengeConfig(env: Env): Readonly<ChallengeConfig> {
  const routes = CHALLENGE_ROUTES.read(env) as GatedRoute[];
  const targetMs = CHALLENGE_TARGET_MS.read(env);
  const rate = CHALLENGE_HASH_RATE.read(env);
  return Object.freeze({
    routes: Object.freeze([...new Set(routes)]),
    baseMaxNumber: Math.min(100_000_000, Math.max(1000, Math.round((2 * rate * targetMs) / 1000))),
    maxFactor: CHALLENGE_MAX_FACTOR.read(env),
    freePerMinute: CHALLENGE_FREE_PER_MINUTE.read(env),
    ttlSeconds: CHALLENGE_TTL_SECONDS.read(env),
    passTtlSeconds: CHALLENGE_PASS_TTL_SECONDS.read(env),
    passMaxAgeSeconds: CHALLENGE_PASS_MAX_AGE_SECONDS.read(env),
  });
}
