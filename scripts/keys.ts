/**
 * The signing key set's admin command:
 *   npm run keys:list                       the stages, kids and dates in the store
 *   npm run keys:rotate [-- --force]        next -> current -> retired, and a new next
 * It talks to the store the broker uses (REDIS_URL, REDIS_PREFIX) and needs the key-encryption key
 * auth has (KEYS_KEK, or the `kek` in AUTH_KEYS_FILE) to seal the new key. Running auth and
 * gateway processes notice the new version within KEYS_POLL_SECONDS; none is restarted.
 * With SIGNING_KEYS_FILE set the keys are the operator's and `rotate` refuses (edit the file).
 */
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../system/config.ts';
import { loadOrCreateKeysKek } from '../flows/keys/keys.ts';
import { managedByFileRefusal, publishedKeys, readKeySet, rotateSigningKeys, RotationRefused, type SigningKeySet } from '../flows/keys/signing-keys.ts';
import { createStore, type TokenStore } from '../platform/store/index.ts';

/**
 * Least time a `next` key must have been published before `rotate` promotes it, unless forced.
 * Worst case for a verifier: a cache in front of the gateway honours `max-age=300` and was filled
 * just before the key appeared, then a jose verifier (default `cacheMaxAge` 10 min) took that
 * stale copy: 5 + 10 minutes. Gateway and auth themselves need only KEYS_POLL_SECONDS.
 */
export const DEFAULT_MIN_NEXT_AGE_SECONDS = 900;

const iso = (s?: number) => (s === undefined ? '-' : new Date(s * 1000).toISOString());

/** The key set as the operator reads it: one line per key. */
export function describeKeySet(set: SigningKeySet, now = Math.floor(Date.now() / 1000)): string {
  const published = new Set(publishedKeys(set, now).map((k) => k.jwk.kid));
  const lines = [`version ${set.version}, written ${iso(set.updatedAt)}${set.source === 'file' ? ', published from SIGNING_KEYS_FILE' : ''}`, 'stage    kid                                          since                     not after                 published'];
  for (const k of [...set.keys].sort((a, b) => ['current', 'next', 'retired'].indexOf(a.stage) - ['current', 'next', 'retired'].indexOf(b.stage))) {
    lines.push(`${k.stage.padEnd(8)} ${k.jwk.kid.padEnd(44)} ${iso(k.createdAt).padEnd(25)} ${iso(k.notAfter).padEnd(25)} ${published.has(k.jwk.kid) ? 'yes' : 'no (expired)'}`);
  }
  return lines.join('\n');
}

/** Runs one command against `store`; returns the text to print. Throws RotationRefused or Error. */
export async function runKeysCommand(
  args: readonly string[],
  deps: { store: TokenStore; kek: () => Buffer; vtTtlSeconds: number; now?: number; signingKeysFile?: string },
): Promise<string> {
  const [command, ...flags] = args;
  if (command === 'list') {
    const set = await readKeySet(deps.store);
    return set ? describeKeySet(set, deps.now) : 'no signing key set in the store yet: start auth once';
  }
  if (command === 'rotate') {
    if (deps.signingKeysFile) throw managedByFileRefusal(deps.signingKeysFile);
    const force = flags.includes('--force');
    const ageFlag = flags.find((f) => f.startsWith('--min-next-age='));
    const minNextAgeSeconds = force ? 0 : ageFlag ? Number(ageFlag.split('=')[1]) : DEFAULT_MIN_NEXT_AGE_SECONDS;
    if (!Number.isSafeInteger(minNextAgeSeconds) || minNextAgeSeconds < 0) throw new Error('--min-next-age must be a whole number of seconds');
    const set = await rotateSigningKeys(deps.store, { kek: deps.kek(), vtTtlSeconds: deps.vtTtlSeconds, minNextAgeSeconds, now: deps.now });
    return `rotated\n${describeKeySet(set, deps.now)}`;
  }
  throw new Error('usage: keys.ts list | rotate [--force] [--min-next-age=SECONDS]');
}

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.signingKeysFile && process.argv[2] === 'rotate') throw managedByFileRefusal(config.signingKeysFile);
  if (!config.redisTarget) {
    throw new Error('REDIS_URL (or REDIS_CLUSTER_NODES or REDIS_SENTINELS) is required: the in-memory store lives inside the running `npm start` process and cannot be reached from here');
  }
  const store = await createStore(config, pino({ level: 'warn' }));
  try {
    // Never create a KEK here: one auth does not have would seal a key it cannot open.
    const out = await runKeysCommand(process.argv.slice(2), {
      store, vtTtlSeconds: config.vtTtlSeconds, signingKeysFile: config.signingKeysFile, kek: () => loadOrCreateKeysKek(config.keysFile, config.keysKek, { create: false }),
    });
    process.stdout.write(out + '\n');
  } finally {
    await store.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`keys: ${err instanceof RotationRefused ? `refused (${err.code}): ` : ''}${(err as Error).message}\n`);
    process.exit(1);
  }
}
