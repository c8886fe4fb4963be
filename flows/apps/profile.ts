/**
 * The small user profile a VT carries (its `profile` claim): what the third party supplied at AT
 * issuance, plus the attributes an operator's edge proxy vouched for (`requiredHeader`). Bounded
 * so that a VT stays well inside MAX_JWS_LENGTH and an Authorization header, and so that a profile
 * can never pollute an object it is merged into.
 */

/** A profile key or attribute name: a letter, then up to 31 letters, digits or `_`. */
export const CLAIM_NAME_RE = /^[a-zA-Z][a-zA-Z0-9_]{0,31}$/;
/** Names a strict JSON reader refuses, or that would mean something to an object (`__proto__` fails the pattern). */
export const RESERVED_CLAIM_NAMES: ReadonlySet<string> = new Set(['constructor', 'prototype']);
export const MAX_PROFILE_KEYS = 8;
/**
 * An attribute's value, as an edge proxy may set it: visible ASCII without commas (a comma means
 * two header lines were joined).
 */
export const ATTRIBUTE_VALUE_RE = /^[\x21-\x2b\x2d-\x7e]{1,128}$/;
/** In characters (code points). */
export const MAX_PROFILE_VALUE_LENGTH = 128;
/** The profile as JSON, in UTF-8 bytes. */
export const MAX_PROFILE_BYTES = 1024;

/**
 * What a profile value may not hold: control characters (C0, DEL, C1); lone surrogates (which
 * cannot be encoded as UTF-8); the bidi controls (U+061C, U+200E, U+200F, U+202A-U+202E,
 * U+2066-U+2069), which can make a name read backwards; the zero-width characters (U+200B-U+200D,
 * U+2060, U+FEFF), which make two different values look alike; the line and paragraph separators
 * (U+2028, U+2029); and the noncharacters (U+FDD0-U+FDEF and U+xFFFE, U+xFFFF on every plane).
 */
export const UNPRINTABLE_RE = /[\p{Cc}\p{Cs}\u061C\u200B-\u200F\u202A-\u202E\u2060\u2066-\u2069\uFEFF\u2028\u2029\p{Noncharacter_Code_Point}]/u;

export type Profile = Record<string, string>;

/** True when `name` may be a profile key or an attribute name. */
export function isClaimName(name: string): boolean {
  return CLAIM_NAME_RE.test(name) && !RESERVED_CLAIM_NAMES.has(name);
}

/**
 * Why `value` is not a profile a third party may supply, or undefined when it is one: a JSON
 * object of at most 8 keys (see CLAIM_NAME_RE), each value a string of 1-128 characters without
 * any character of UNPRINTABLE_RE, the whole at most 1024 bytes as JSON.
 */
export function profileProblem(value: unknown): string | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return 'must be a JSON object of strings';
  const entries = Object.entries(value);
  if (entries.length > MAX_PROFILE_KEYS) return `may have at most ${MAX_PROFILE_KEYS} keys`;
  for (const [k, v] of entries) {
    if (!isClaimName(k)) return `key "${k.slice(0, 40)}" must be a letter then up to 31 of A-Z a-z 0-9 _ (not "constructor" or "prototype")`;
    if (typeof v !== 'string') return `"${k}" must be a string`;
    const length = [...v].length;
    if (length === 0 || length > MAX_PROFILE_VALUE_LENGTH || UNPRINTABLE_RE.test(v)) {
      return `"${k}" must be 1-${MAX_PROFILE_VALUE_LENGTH} characters without control, bidi or zero-width characters, line separators or noncharacters`;
    }
  }
  if (Buffer.byteLength(JSON.stringify(value), 'utf8') > MAX_PROFILE_BYTES) return `may be at most ${MAX_PROFILE_BYTES} bytes as JSON`;
  return undefined;
}

/**
 * The VT's `profile` claim: the third party's profile with the operator's attributes over it (an
 * attribute wins over a profile key of the same name: the operator vouches for it, the third
 * party only says it). Undefined when both are empty, so the claim is left out.
 */
export function visitProfile(profile?: Profile, attributes?: Profile): Profile | undefined {
  const merged: Profile = { ...profile, ...attributes };
  return Object.keys(merged).length > 0 ? merged : undefined;
}
