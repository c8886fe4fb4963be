/**
 * The operator's admin CLI: `npm run admin -- <command> [--json]`, against the store the services
 * use (REDIS_URL, REDIS_PREFIX). Apps live in the store when the services run with
 * APPS_SOURCE=store; they see a change within KEYS_POLL_SECONDS, without a restart.
 *
 *   import [--file <path>]                     the store's first registry, from APPS_FILE (or --file)
 *   list | show <appId>                        apps, never a secret
 *   register <appId> --products a,b [--name <name>] [--origins <o,…>] [--networks <cidr,…>] [--audiences <url,…>]
 *                                              a new app; its secret and encKey are shown once
 *   disable <appId> | enable <appId>
 *   rotate-secret <appId> [--overlap <seconds>] a new secret, shown once; the old one verifies for
 *                                              the overlap (3600 s by default)
 *   set <appId> [--products …] [--origins …] [--networks …] [--audiences …] [--name …]
 *                                              an empty value ("") removes networks or audiences
 *   keys list | keys rotate [--force]          the VT signing keys (scripts/keys.ts)
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { loadConfig, type BrokerConfig } from '../system/config.ts';
import { AdminError, createAppsAdmin, type AppSummary } from '../flows/apps/admin.ts';
import type { RegistryDoc } from '../flows/apps/store-registry.ts';
import { loadOrCreateKeysKek } from '../flows/keys/keys.ts';
import { RotationRefused } from '../flows/keys/signing-keys.ts';
import { createStore, type TokenStore } from '../platform/store/index.ts';
import { runKeysCommand } from './keys.ts';

export const USAGE = `usage: npm run admin -- <command> [--json]
  import [--file <path>]
  list
  show <appId>
  register <appId> --products <id,…> [--name <name>] [--origins <origin,…>] [--networks <cidr,…>] [--audiences <url,…>]
  disable <appId>
  enable <appId>
  rotate-secret <appId> [--overlap <seconds>]
  set <appId> [--products <id,…>] [--origins <origin,…>] [--networks <cidr,…>] [--audiences <url,…>] [--name <name>]
  keys list
  keys rotate [--force]`;

const VALUE_FLAGS = new Set(['--file', '--products', '--name', '--origins', '--networks', '--audiences', '--overlap', '--min-next-age']);
const BOOL_FLAGS = new Set(['--json', '--force']);

/** A usage error: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function parseArgs(argv: readonly string[]): { positional: string[]; flags: Map<string, string | true> } {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (BOOL_FLAGS.has(name)) flags.set(name, true);
    else if (VALUE_FLAGS.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      flags.set(name, value);
    } else if (name.startsWith('--')) throw new UsageError(`unknown option ${name}`);
    else positional.push(arg);
  }
  return { positional, flags };
}

const list = (v: string | true | undefined): string[] | undefined => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const iso = (s: number) => new Date(s * 1000).toISOString();

function describe(a: AppSummary): string {
  return [
    `${a.appId}${a.disabled ? ' (disabled)' : ''}: ${a.name}`,
    `  products:  ${a.products.join(', ')}`,
    `  origins:   ${a.allowedOrigins.join(', ') || '-'}`,
    `  networks:  ${a.trustedNetworks?.join(', ') ?? 'any'}`,
    `  audiences: ${a.audiences?.join(', ') ?? '-'}`,
    `  key:       ${a.keyKind}`,
    ...(a.previousSecretsUntil.length ? [`  previous secret verifies until ${a.previousSecretsUntil.map(iso).join(', ')}`] : []),
  ].join('\n');
}

export interface AdminDeps {
  store: TokenStore;
  config: Pick<BrokerConfig, 'appsFile' | 'vtTtlSeconds' | 'signingKeysFile' | 'keysFile' | 'keysKek'>;
  now?: () => number;
}

/** Runs one command; returns what to print (JSON text with --json). Throws UsageError, AdminError or Error. */
export async function runAdmin(argv: readonly string[], deps: AdminDeps): Promise<string> {
  const { positional, flags } = parseArgs(argv);
  const json = flags.has('--json');
  const [command, appId, ...rest] = positional;
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
  const admin = createAppsAdmin(deps.store, deps.now);
  const needApp = () => {
    if (!appId) throw new UsageError(`${command} needs an appId`);
    return appId;
  };
  const print = (value: unknown, text: string) => (json ? JSON.stringify(value, null, 2) : text);
  switch (command) {
    case 'import': {
      const file = (flags.get('--file') as string | undefined) ?? deps.config.appsFile;
      let doc: RegistryDoc;
      try {
        doc = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new AdminError(`${file} cannot be read as JSON (${(err as Error).message})`);
      }
      const out = await admin.importRegistry(doc);
      return print(out, `imported ${out.apps} app(s) from ${file} as version ${out.version}`);
    }
    case 'list': {
      const out = await admin.list();
      return print(out, [`registry version ${out.version}`, ...out.apps.map(describe)].join('\n'));
    }
    case 'show': {
      const out = await admin.show(needApp());
      return print(out, describe(out));
    }
    case 'register': {
      const products = list(flags.get('--products'));
      if (!products?.length) throw new UsageError('register needs --products');
      const out = await admin.register({
        appId: needApp(), products, name: flags.get('--name') as string | undefined,
        allowedOrigins: list(flags.get('--origins')), trustedNetworks: list(flags.get('--networks')), audiences: list(flags.get('--audiences')),
      });
      return print(out, `registered ${out.appId} (version ${out.version})\nappSecret: ${out.appSecret}\nencKey:    ${out.encKey}\nThis is the only time they are shown: store them now.`);
    }
    case 'disable':
    case 'enable': {
      const out = await admin.setDisabled(needApp(), command === 'disable');
      return print(out, `${out.app.appId} ${command}d (version ${out.version}); the services see it within KEYS_POLL_SECONDS`);
    }
    case 'rotate-secret': {
      const overlapFlag = flags.get('--overlap');
      const overlap = overlapFlag === undefined ? 3600 : Number(overlapFlag);
      if (!Number.isSafeInteger(overlap) || overlap < 0) throw new UsageError('--overlap must be a whole number of seconds');
      const out = await admin.rotateSecret(needApp(), overlap);
      return print(out, `new secret for ${out.appId} (version ${out.version})\nappSecret: ${out.appSecret}\nThis is the only time it is shown. The previous secret verifies until ${iso(out.previousValidUntil)}; switch to the new one after KEYS_POLL_SECONDS.`);
    }
    case 'set': {
      const out = await admin.set(needApp(), {
        products: list(flags.get('--products')), allowedOrigins: list(flags.get('--origins')),
        trustedNetworks: list(flags.get('--networks')), audiences: list(flags.get('--audiences')), name: flags.get('--name') as string | undefined,
      });
      return print(out, `${describe(out.app)}\n(version ${out.version})`);
    }
    case 'keys': {
      const sub = appId;
      if (sub !== 'list' && sub !== 'rotate') throw new UsageError('keys list | keys rotate [--force]');
      const keyArgs = [sub, ...(flags.has('--force') ? ['--force'] : []), ...(flags.has('--min-next-age') ? [`--min-next-age=${flags.get('--min-next-age')}`] : [])];
      const text = await runKeysCommand(keyArgs, {
        store: deps.store, vtTtlSeconds: deps.config.vtTtlSeconds, signingKeysFile: deps.config.signingKeysFile,
        kek: () => loadOrCreateKeysKek(deps.config.keysFile, deps.config.keysKek, { create: false }),
      });
      return print({ command: `keys ${sub}`, output: text }, text);
    }
    default:
      throw new UsageError(command ? `unknown command ${command}` : 'no command');
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const fail = (kind: string, message: string, code: number) => {
    process.stderr.write(json ? `${JSON.stringify({ error: kind, message })}\n` : `admin: ${message}\n${kind === 'usage' ? `${USAGE}\n` : ''}`);
    return code;
  };
  let store: TokenStore | undefined;
  try {
    const config = loadConfig();
    if (!config.redisUrl) return fail('config', 'REDIS_URL is required: the in-memory store lives inside the running `npm start` process and cannot be reached from here', 1);
    store = await createStore(config, pino({ level: 'warn' }));
    process.stdout.write(`${await runAdmin(argv, { store, config })}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return fail('usage', err.message, 2);
    if (err instanceof AdminError) return fail('refused', err.message, 1);
    if (err instanceof RotationRefused) return fail('refused', `${err.code}: ${err.message}`, 1);
    return fail('error', (err as Error).message, 1);
  } finally {
    await store?.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main();
}
