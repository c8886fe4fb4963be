/**
 * Where a request came from: the socket's peer, or, when that peer is a trusted proxy, the first
 * untrusted address in `X-Forwarded-For` read from the right. Also the CIDR lists that trusted
 * proxies and per-client allowlists are written in.
 *
 * Koa's `ctx.ip` (with `app.proxy`) takes the leftmost `X-Forwarded-For` entry, which the client
 * writes itself; this module never does.
 */
import { BlockList, isIP } from 'node:net';

/** A set of IPv4 and IPv6 ranges; IPv4-mapped IPv6 addresses match their IPv4 ranges. */
export interface NetworkList {
  /** The ranges as configured, e.g. `["10.0.0.0/8", "2001:db8::/32"]`. */
  readonly cidrs: readonly string[];
  /** True when `address` (an IP literal) is in one of the ranges; false for anything else. */
  has(address: string): boolean;
}

/** What a service knows of a request's origin. */
export interface ClientAddress {
  /** The address the request came from, normalised (IPv4-mapped IPv6 becomes IPv4). */
  address: string;
  /** The socket's peer, normalised. */
  peer: string;
  /** True when the peer is a trusted proxy, so headers it sets may be believed. */
  viaTrustedProxy: boolean;
}

const MAPPED_V4_RE = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * An IP literal in canonical form for comparison and logs: IPv4-mapped IPv6 (`::ffff:1.2.3.4`,
 * as a dual-stack socket reports an IPv4 peer) becomes `1.2.3.4`; undefined when not an IP.
 */
export function normaliseAddress(raw: string): string | undefined {
  const family = isIP(raw);
  if (family === 4) return raw;
  if (family !== 6) return undefined;
  const mapped = MAPPED_V4_RE.exec(raw);
  if (mapped && isIP(mapped[1]) === 4) return mapped[1];
  return raw.toLowerCase();
}

/**
 * Parses one range: an IP (a single host) or `IP/prefix`, IPv4 or IPv6. Throws an Error whose
 * message says what is wrong, for config and registry errors to quote.
 */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0 || address.includes('%')) throw new Error(`"${text}" is not an IP address or CIDR range`);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new Error(`"${text}" has a prefix length outside 0-${max}`);
    prefix = Number(p);
  }
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** Builds a NetworkList from ranges (see parseCidr); throws on the first bad one. */
export function createNetworkList(cidrs: readonly string[]): NetworkList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const { address, prefix, family } = parseCidr(cidr);
    list.addSubnet(address, prefix, family);
  }
  const frozen = Object.freeze([...cidrs]);
  return {
    cidrs: frozen,
    has(address: string): boolean {
      const family = isIP(address);
      if (family === 0 || frozen.length === 0) return false;
      // BlockList matches IPv4-mapped IPv6 addresses against IPv4 ranges and the reverse.
      return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * One `X-Forwarded-For` entry as an address: a bare IP, or one with a port as some proxies write
 * it (`1.2.3.4:5678`, `[2001:db8::1]:443`, `[2001:db8::1]`). Undefined for anything else
 * (`unknown`, obfuscated identifiers, zone ids, empty entries).
 */
function forwardedEntry(raw: string): string | undefined {
  const entry = raw.trim();
  if (entry.includes('%')) return undefined;
  let host = entry;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(entry);
  if (bracketed) {
    host = bracketed[1];
    if (isIP(host) !== 6) return undefined;
  } else if (/^[\d.]+:\d{1,5}$/.test(entry)) {
    host = entry.slice(0, entry.indexOf(':'));
    if (isIP(host) !== 4) return undefined;
  }
  return normaliseAddress(host);
}

/**
 * The client address of a request (the standard right-to-left walk): the socket's peer unless it
 * is a trusted proxy; then `X-Forwarded-For` from the right, skipping trusted proxies, and the
 * first untrusted entry is the client. A malformed entry stops the walk: the request is taken to
 * come from the last trusted hop, since nothing to its left can be believed. When every entry is
 * trusted, the leftmost is the client. Never throws.
 */
export function resolveClientAddress(socketAddress: string | undefined, forwardedFor: string | undefined, trustedProxies: NetworkList): ClientAddress {
  const peer = (socketAddress && normaliseAddress(socketAddress)) ?? socketAddress ?? '';
  if (!peer || !trustedProxies.has(peer)) return { address: peer, peer, viaTrustedProxy: false };
  let address = peer;
  if (forwardedFor) {
    const entries = forwardedFor.split(',');
    for (let i = entries.length - 1; i >= 0; i--) {
      const hop = forwardedEntry(entries[i]);
      if (hop === undefined) break;
      address = hop;
      if (!trustedProxies.has(hop)) break;
    }
  }
  return { address, peer, viaTrustedProxy: true };
}
