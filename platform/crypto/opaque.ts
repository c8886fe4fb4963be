/** Opaque random tokens, and the hash they are stored under (a store dump yields no usable token). */
import { createHash } from 'node:crypto';
import { randomBytesPooled } from './random.ts';

/** 256 random bits, base64url: 43 characters. */
export function newOpaqueToken(): string {
  return randomBytesPooled(32).toString('base64url');
}

export const OPAQUE_TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
