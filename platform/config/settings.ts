/**
 * A setting described once: its environment variable, its default, the values it takes, one line
 * of documentation, and the reader that turns the variable into a value (or a ConfigError naming
 * it). Each module declares its own settings beside its code (`flows/<flow>/settings.ts`,
 * `platform/<module>/settings.ts`, `system/settings.ts`); the configuration composes them, and the
 * README's configuration table is rendered from them (`settingsTable`).
 */
import { bool, ConfigError, int, url, type Env } from './env.ts';

export interface Setting<T = unknown> {
  /** The environment variable. */
  readonly name: string;
  /** The default as the README shows it: a value, or a dash and what happens without one. */
  readonly defaultText: string;
  /** The values it takes, as the README shows them (e.g. `10–3600`), when the reader limits them. */
  readonly range?: string;
  /** One line (markdown) for the README's table. */
  readonly doc: string;
  /** Reads and checks the variable; a bad value throws a ConfigError naming it. */
  readonly read: (env: Env) => T;
}

interface Described {
  doc: string;
  /** Overrides the shown default. */
  defaultText?: string;
  /** Overrides the shown range. */
  range?: string;
}

const code = (v: string | number | boolean) => `\`${v}\``;

/** A whole number between min and max; unset or empty: def. */
export function intSetting(name: string, o: Described & { def: number; min: number; max: number }): Setting<number> {
  return { name, doc: o.doc, defaultText: o.defaultText ?? code(o.def), range: o.range ?? `${o.min}–${o.max}`, read: (env) => int(env, name, o.def, o.min, o.max) };
}

/** `true` or `false`; unset or empty: def. */
export function boolSetting(name: string, o: Described & { def: boolean }): Setting<boolean> {
  return { name, doc: o.doc, defaultText: o.defaultText ?? code(o.def), range: o.range ?? '`true`, `false`', read: (env) => bool(env, name, o.def) };
}

/** Any text; unset or empty: def. */
export function stringSetting(name: string, o: Described & { def: string }): Setting<string> {
  return { name, doc: o.doc, defaultText: o.defaultText ?? code(o.def), range: o.range, read: (env) => env[name] || o.def };
}

/**
 * Optional text: unset or empty gives undefined. `check` may refuse a value by returning the
 * problem, which becomes the ConfigError's message.
 */
export function optionalSetting<T = string>(
  name: string,
  o: Described & { defaultText: string; parse?: (raw: string) => T; check?: (raw: string) => string | undefined },
): Setting<T | undefined> {
  return {
    name, doc: o.doc, defaultText: o.defaultText, range: o.range,
    read: (env) => {
      const raw = env[name];
      if (!raw) return undefined;
      const problem = o.check?.(raw);
      if (problem) throw new ConfigError(name, problem);
      return o.parse ? o.parse(raw) : (raw as T);
    },
  };
}

/** One of `values`; unset or empty: def. */
export function oneOfSetting<V extends string>(name: string, o: Described & { def: V; values: readonly V[] }): Setting<V> {
  return {
    name, doc: o.doc, defaultText: o.defaultText ?? code(o.def), range: o.range ?? o.values.map(code).join(', '),
    read: (env) => {
      const raw = env[name];
      if (raw === undefined || raw === '') return o.def;
      if (!(o.values as readonly string[]).includes(raw)) throw new ConfigError(name, `must be one of ${o.values.join(', ')}, got "${raw}"`);
      return raw as V;
    },
  };
}

/**
 * An absolute http(s) URL, trailing slashes dropped; unset or empty gives undefined, so that the
 * composition may derive the default from other settings (a port).
 */
export function urlSetting(name: string, o: Described & { defaultText: string }): Setting<string | undefined> {
  return { name, doc: o.doc, defaultText: o.defaultText, range: o.range ?? 'http(s) URL', read: (env) => (env[name] ? url(env, name, '') : undefined) };
}

/**
 * A comma-separated list, blanks dropped; unset: empty. `check` returns the problem of one entry,
 * which becomes the ConfigError's message.
 */
export function listSetting(name: string, o: Described & { check?: (item: string) => string | undefined }): Setting<string[]> {
  return {
    name, doc: o.doc, defaultText: o.defaultText ?? '—', range: o.range ?? 'comma-separated',
    read: (env) => {
      const items = (env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      for (const item of items) {
        const problem = o.check?.(item);
        if (problem) throw new ConfigError(name, problem);
      }
      return items;
    },
  };
}

/** A setting whose reader is its own (the caller keeps the error messages); the rest as above. */
export function customSetting<T>(name: string, o: Described & { defaultText: string; read: (env: Env) => T }): Setting<T> {
  return { name, doc: o.doc, defaultText: o.defaultText, range: o.range, read: o.read };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The README's configuration table: one row per setting, in the order given. */
export function settingsTable(settings: readonly Setting[]): string {
  const rows = settings.map((s) => `| \`${s.name}\` | ${cell(s.defaultText)} | ${cell(s.range ?? '—')} | ${cell(s.doc)} |`);
  return ['| variable | default | values | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** Refuses two settings of one name (a module that declares what another already does). */
export function checkUnique(settings: readonly Setting[]): void {
  const seen = new Set<string>();
  for (const s of settings) {
    if (seen.has(s.name)) throw new Error(`setting ${s.name} is declared twice`);
    seen.add(s.name);
  }
}
