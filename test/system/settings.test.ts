/**
 * Settings are declared once, beside their code (flows/<flow>/settings.ts, platform/<module>/settings.ts,
 * system/settings.ts): the README's table is rendered from them, every
 * variable the code reads is one of them (or a test/benchmark variable the README names), and each
 * reader keeps the default and the range it documents.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError } from '../../platform/config/env.ts';
import { settingsTable } from '../../platform/config/settings.ts';
import { loadConfig, SETTINGS } from '../../system/config.ts';
import { TABLE_END, TABLE_START, withSettingsTable } from '../../scripts/settings-table.ts';

const ROOT = join(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');
const NAMES = new Set(SETTINGS.map((s) => s.name));

/**
 * Variables that only tests and the benchmark read, never the broker; the README's "Tests" and
 * "Performance" sections name them. (`REDIS_URL` is also a setting: the tests reuse it for their Redis.)
 */
const TEST_AND_BENCH_VARIABLES = ['CI', 'PROPERTY_RUNS', 'CHROMIUM_PATH', 'UPDATE_SCREENSHOTS', 'BENCH_SECONDS', 'BENCH_ROUNDS', 'BENCH_WORKERS', 'BENCH_BROWSER_RUNS', 'BENCH_BACKEND_URL', 'BENCH_ONLY', 'BENCH_PROFILE', 'BENCH_AB_DIR', 'BENCH_AB_NODE_FLAGS', 'BENCH_COMPONENTS', 'H5_NO_MINIFY'];
/** What a test passes through to a child process or a benchmark peer's port; not configuration. */
const PASSED_THROUGH = ['PATH', 'HOME', 'PORT'];

/** The README's settings table as rows: variable, default, values, meaning. */
function readmeRows(): string[][] {
  const readme = read('README.md');
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  expect(start, 'README.md has the settings table markers').to.be.at.least(0);
  expect(end).to.be.greaterThan(start);
  return readme.slice(start + TABLE_START.length, end).trim().split('\n').slice(2)
    .map((line) => line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim()));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name.startsWith('.')) return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(path) : /\.(ts|js|mjs|cjs)$/.test(e.name) ? [path] : [];
  });
}

describe('settings: one declaration per setting, the README table rendered from them', () => {
  it('the README configuration table is exactly the one rendered from the declared settings', () => {
    const readme = read('README.md');
    // On failure: `npx tsx scripts/settings-table.ts` rewrites it.
    expect(readme, 'README.md settings table is out of date: run npx tsx scripts/settings-table.ts').to.equal(withSettingsTable(readme));
  });

  it('the README table lists every setting once, with its declared default, and no variable that does not exist', () => {
    const rows = readmeRows();
    const listed = rows.map((r) => r[0]!.replace(/^`|`$/g, ''));
    expect(listed).to.deep.equal(SETTINGS.map((s) => s.name));
    for (const [i, s] of SETTINGS.entries()) expect(rows[i]![1], s.name).to.equal(s.defaultText);
    expect(new Set(listed).size).to.equal(listed.length);
  });

  it('renders a table that a reader of one row cannot misparse (a | in a cell is escaped)', () => {
    const table = settingsTable([{ name: 'X_Y', defaultText: 'a|b', doc: 'c', read: () => 1 }]);
    expect(table.split('\n')[2]).to.equal('| `X_Y` | a\\|b | — | c |');
  });

  it('each setting read from an empty environment gives the default it documents', () => {
    for (const s of SETTINGS) {
      const value = s.read({ NODE_ENV: s.name === 'NODE_ENV' ? undefined : 'development' });
      const single = /^`([^`$]*)`$/.exec(s.defaultText);
      if (single) expect(String(value), s.name).to.equal(single[1]);
      else if (s.defaultText.startsWith('—')) expect(value === undefined || (Array.isArray(value) && value.length === 0), s.name).to.equal(true);
      else if (/^`http:\/\/127\.0\.0\.1:\$[A-Z0-9_]+`$/.test(s.defaultText)) expect(value, s.name).to.equal(undefined);
      else expect(s.name, `${s.name}: a default the test does not know how to check: ${s.defaultText}`).to.equal('INTERNAL_TOKEN');
    }
    // The URLs' defaults are derived from the ports, as documented.
    const config = loadConfig({ GATEWAY_PORT: '9001', AUTH_PORT: '9002', H5_PORT: '9003', PRODUCTS_PORT: '9004', DEMO_PORT: '9005' });
    expect(config.urls).to.deep.equal({
      gatewayPublic: 'http://127.0.0.1:9001', auth: 'http://127.0.0.1:9002', h5Public: 'http://127.0.0.1:9003',
      products: 'http://127.0.0.1:9004', demoPublic: 'http://127.0.0.1:9005',
    });
  });

  it('each whole-number setting accepts its documented bounds and refuses just outside them, naming itself', () => {
    let checked = 0;
    for (const s of SETTINGS) {
      const range = /^(\d+)–(\d+)/.exec(s.range ?? '');
      if (!range) continue;
      const [min, max] = [Number(range[1]), Number(range[2])];
      expect(s.read({ [s.name]: String(min) }), s.name).to.equal(min);
      expect(s.read({ [s.name]: String(max) }), s.name).to.equal(max);
      expect(() => s.read({ [s.name]: String(max + 1) }), s.name).to.throw(ConfigError, new RegExp(`^${s.name}: `));
      if (min > 0 && !/`0`/.test(s.range!)) expect(() => s.read({ [s.name]: String(min - 1) }), s.name).to.throw(ConfigError, new RegExp(`^${s.name}: `));
      checked++;
    }
    expect(checked).to.be.at.least(17);
  });

  it('each setting with listed values accepts those and refuses another, naming itself', () => {
    for (const s of SETTINGS.filter((x) => /^`[a-z]+`(, `[a-z]+`)+$/.test(x.range ?? ''))) {
      for (const v of s.range!.match(/[a-z]+/g)!) expect(String(s.read({ [s.name]: v })), s.name).to.equal(v);
      expect(() => s.read({ [s.name]: 'LOUD' }), s.name).to.throw(ConfigError, new RegExp(`^${s.name}: `));
    }
  });

  it('every environment variable the code reads is a declared setting, or a test/benchmark variable the README names', () => {
    const allowed = new Set([...NAMES, ...TEST_AND_BENCH_VARIABLES, ...PASSED_THROUGH]);
    const found = new Map<string, string>();
    const patterns = [
      /process\.env\.([A-Za-z_][A-Za-z0-9_]*)/g,
      /process\.env\[['"]([^'"]+)['"]\]/g,
      /\benv\.([A-Z][A-Z0-9_]*)\b/g,
      /\benv\[['"]([^'"]+)['"]\]/g,
      /\b(?:int|bool|url)\(env, ['"]([^'"]+)['"]/g,
    ];
    const files = ['platform', 'flows', 'protocol', 'sdk', 'gateway', 'auth', 'h5', 'third-party-demo', 'system', 'scripts', 'bench', 'test'].flatMap(sourceFiles);
    expect(files.length).to.be.greaterThan(50);
    for (const file of files) {
      const text = read(file);
      for (const re of patterns) for (const m of text.matchAll(re)) if (!found.has(m[1]!)) found.set(m[1]!, relative(ROOT, join(ROOT, file)));
    }
    const undeclared = [...found].filter(([name]) => !allowed.has(name)).map(([name, file]) => `${name} (${file})`);
    expect(undeclared, 'read but not declared in a settings.ts').to.deep.equal([]);
    // The scan sees the reads it is meant to see.
    for (const name of ['AUTH_KEYS_FILE', 'INTERNAL_TOKEN', 'CI', 'PROPERTY_RUNS', 'BENCH_SECONDS']) expect([...found.keys()]).to.include(name);
    const readme = read('README.md');
    for (const name of TEST_AND_BENCH_VARIABLES) expect(readme, `README.md names ${name}`).to.match(new RegExp(`\`${name}[=\`]`));
  });

  it('every setting declared in a settings.ts is composed into SETTINGS (none declared and forgotten)', () => {
    const declared = new Set<string>();
    const files = ['platform', 'flows', 'system', 'third-party-demo', 'gateway', 'auth', 'h5'].flatMap(sourceFiles).filter((f) => f.endsWith('settings.ts'));
    // The first argument of any call there that is a variable's name: intSetting('X', …), port('X', …).
    for (const file of files) for (const m of read(file).matchAll(/\b[A-Za-z]+\(\s*'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'/g)) declared.add(m[1]!);
    expect(declared.size).to.be.at.least(30);
    for (const name of declared) expect(NAMES, `${name} is declared but not in system/config.ts SETTINGS`).to.include(name);
  });

  it("the component READMEs name only declared settings and point to the one table instead of repeating it", () => {
    for (const file of ['gateway/README.md', 'auth/README.md', 'h5/README.md', 'third-party-demo/README.md']) {
      const text = read(file);
      const env = text.split('\n').find((l) => l.startsWith('**Environment**'));
      expect(env, `${file} has an **Environment** line`).to.be.a('string');
      expect(env).to.contain('(../README.md#configuration)');
      const names = [...env!.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g)].map((m) => m[1]!);
      expect(names.length, file).to.be.greaterThan(3);
      for (const name of names) expect(NAMES, `${file} names ${name}`).to.include(name);
      // No second table of settings: a table row starting with a variable name.
      expect(text, file).to.not.match(/^\| `[A-Z][A-Z0-9]*_[A-Z0-9_]+` \|/m);
    }
  });

  it('every `NAME=value` a doc shows is a declared setting or a test variable', () => {
    const allowed = new Set([...NAMES, ...TEST_AND_BENCH_VARIABLES]);
    const docs = ['README.md', 'docs/decisions.md', 'docs/security.md', 'docs/errors.md', 'gateway/README.md', 'auth/README.md', 'h5/README.md', 'third-party-demo/README.md'];
    let seen = 0;
    for (const file of docs) {
      for (const m of read(file).matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)=[^`]*`/g)) {
        seen++;
        expect(allowed.has(m[1]!), `${file}: ${m[0]}`).to.equal(true);
      }
    }
    expect(seen).to.be.at.least(3);
  });

  it('a bad LOG_LEVEL stops `npm start` with one line naming it, like any other setting', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'system/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'loud', GATEWAY_PORT: '0', AUTH_PORT: '0', H5_PORT: '0', PRODUCTS_PORT: '0', DEMO_PORT: '0', AUTH_KEYS_FILE: '' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status, run.stderr).to.equal(1);
    expect(run.stderr).to.equal('cannot start: LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"\n');
    expect(run.stdout).to.equal('');
  });
});
