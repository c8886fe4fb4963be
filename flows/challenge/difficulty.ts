/**
 * The difficulty for one client address: the base `maxnumber` while the address asks for no more
 * than CHALLENGE_FREE_PER_MINUTE challenges a minute, doubled for each further batch of as many, up
 * to CHALLENGE_MAX_FACTOR times the base. Each tier is a TokenStore.rateLimit counter (GCRA, one
 * atomic step, shared by every gateway) that only the requests over the tier below reach, so an
 * ordinary address costs one store step and a flooding one at most log2(cap) + 1.
 */
import type { TokenStore } from '../../platform/store/index.ts';
import { tierKey } from './records.ts';
import type { ChallengeConfig } from './settings.ts';

export async function difficultyFor(store: TokenStore, config: Pick<ChallengeConfig, 'baseMaxNumber' | 'maxFactor' | 'freePerMinute'>, subject: string): Promise<{ maxnumber: number; factor: number }> {
  let factor = 1;
  for (let tier = 0; ; tier++) {
    const r = await store.rateLimit(tierKey(tier, config.freePerMinute, subject), config.freePerMinute, 60_000);
    if (r.allowed || factor >= config.maxFactor) break;
    factor = Math.min(config.maxFactor, factor * 2);
  }
  return { maxnumber: config.baseMaxNumber * factor, factor };
}
