/**
 * Where a request came from: the socket's peer, or, when that peer is a trusted proxy, the first
 * untrusted address in `X-Forwarded-For` read from the right. Also the CIDR lists that trusted
 * proxies and per-client allowlists are written in.
 *
 * Koa's `ctx.ip` (with `app.proxy`) takes the leftmost `X-Forwarded-For` entry, which the client
 * writes itself; this module never does.
 */
import { BlockList, isIP } from 'node:net';

/** A set of IPv4 and IPv6 ranges; IPv4-mapped and IPv4-compatible IPv6 addresses match their IPv4 ranges. */
export interface NetworkList {
  /** The ranges as configured, e.g. `["10.0.0.0/8", "2001:db8::/32"]`. */
  readonly cidrs: readonly string[];
  /** True when `address` (an IP literal) is in one of the ranges; false for anything else. */
  has(address: string): boolean;
}

/** What a service knows of a request's origin. */
export interface ClientAddress {
  /** The address the request came from, normalised (normaliseAddress: IPv4-mapped IPv6 becomes IPv4). */
  address: string;
  /** The socket's peer, normalised. */
  peer: string;
  /** True when the peer is a trusted proxy, so headers it sets may be believed. */
  viaTrustedProxy: boolean;
}

/** An IP literal as bytes: 4 for IPv4, 16 for IPv6; undefined when `raw` is not an IP literal. */
export function addressBytes(raw: string): Uint8Array | undefined {
  const family = isIP(raw);
  if (family === 4) return Uint8Array.from(raw.split('.').map(Number));
  // Zone ids (`fe80::1%eth0`) name an interface of this host, never a client: not an address here.
  if (family !== 6 || raw.includes('%')) return undefined;
  const text = raw.toLowerCase();
  const bytes = new Uint8Array(16);
  // A dotted IPv4 tail (`::ffff:1.2.3.4`, `::1.2.3.4`) is the last four bytes.
  let groupsText = text;
  let tail: number[] = [];
  const dotted = /(?:^|:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted) {
    tail = dotted[1].split('.').map(Number);
    groupsText = text.slice(0, text.length - dotted[1].length);
    // `::1.2.3.4` leaves `::`, `1::2.3.4.5` leaves `1::`; a single trailing `:` is the separator.
    if (groupsText.endsWith(':') && !groupsText.endsWith('::')) groupsText = groupsText.slice(0, -1);
  }
  const want = dotted ? 6 : 8;
  const gap = groupsText.indexOf('::');
  const split = (part: string) => (part ? part.split(':') : []);
  let groups: string[];
  if (gap === -1) groups = split(groupsText);
  else {
    const head = split(groupsText.slice(0, gap));
    const rest = split(groupsText.slice(gap + 2));
    groups = [...head, ...Array<string>(want - head.length - rest.length).fill('0'), ...rest];
  }
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[2 * i] = v >> 8;
    bytes[2 * i + 1] = v & 0xff;
  });
  tail.forEach((b, i) => (bytes[12 + i] = b));
  return bytes;
}

/** Dotted text of four bytes. */
function ipv4Text(b: Uint8Array, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text of 16 bytes: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
function ipv6Text(b: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best === -1) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/**
 * The IPv4 address that an IPv6 address merely spells another way, for every purpose (limits,
 * networks, logs): IPv4-mapped `::ffff:0:0/96` in any spelling (`::ffff:1.2.3.4`,
 * `::ffff:0102:0304`, `0:0:0:0:0:ffff:1.2.3.4`, uppercase) and the deprecated IPv4-compatible
 * `::/96` (`::1.2.3.4`) except `::` and `::1`. Undefined for any other address.
 */
function spelledIpv4(b: Uint8Array): string | undefined {
  if (b.length !== 16) return undefined;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return undefined;
  if (b[10] === 0xff && b[11] === 0xff) return ipv4Text(b, 12);
  if (b[10] !== 0 || b[11] !== 0) return undefined;
  if (b[12] === 0 && b[13] === 0 && b[14] === 0 && b[15] <= 1) return undefined;
  return ipv4Text(b, 12);
}

/**
 * An IP literal in canonical form, for comparison, network matching, rate-limit subjects and
 * logs: IPv4 as it is, IPv4-mapped and IPv4-compatible IPv6 as their IPv4 address (a dual-stack
 * socket reports an IPv4 peer as `::ffff:1.2.3.4`; see spelledIpv4 for every spelling), any other
 * IPv6 in RFC 5952 text (`2001:DB8:0::0:1` becomes `2001:db8::1`); undefined when not an IP.
 */
export function normaliseAddress(raw: string): string | undefined {
  const bytes = addressBytes(raw);
  if (!bytes) return undefined;
  if (bytes.length === 4) return raw;
  return spelledIpv4(bytes) ?? ipv6Text(bytes);
}

/**
 * The IPv4 host behind an IPv6 address that carries one, for counting that host once: 6to4
 * (`2002:a.b.c.d::/48`, the IPv4 in bytes 2-5), the NAT64 well-known prefix (`64:ff9b::/96`, the
 * IPv4 in the last four bytes) and Teredo (`2001:0::/32`, the client's IPv4 in the last four
 * bytes, inverted). Undefined for other addresses. Not used for network matching: these
 * addresses reach us over IPv6, and an IPv4 range does not vouch for them.
 */
export function embeddedIpv4(address: string): string | undefined {
  const b = addressBytes(address);
  if (!b || b.length !== 16) return undefined;
  if (b[0] === 0x20 && b[1] === 0x02) return ipv4Text(b, 2);
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.subarray(4, 12).every((x) => x === 0)) return ipv4Text(b, 12);
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) return ipv4Text(b.subarray(12).map((x) => x ^ 0xff));
  return undefined;
}

/** The first 64 bits of an IPv6 address as `a:b:c:d::/64` (each group without leading zeros, none elided). */
export function ipv6Prefix64(address: string): string | undefined {
  const b = addressBytes(address);
  if (!b || b.length !== 16) return undefined;
  return `${Array.from({ length: 4 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16)).join(':')}::/64`;
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
    // A range written in IPv4-mapped or IPv4-compatible form (`::ffff:10.0.0.0/104`) is an IPv4
    // range: addresses are matched in their normalised (IPv4) form.
    const bytes = family === 'ipv6' && prefix >= 96 ? addressBytes(address) : undefined;
    if (bytes && bytes.subarray(0, 10).every((b) => b === 0) && ((bytes[10] === 0xff && bytes[11] === 0xff) || (bytes[10] === 0 && bytes[11] === 0 && spelledIpv4(bytes)))) {
      list.addSubnet(ipv4Text(bytes, 12), prefix - 96, 'ipv4');
    }
  }
  const frozen = Object.freeze([...cidrs]);
  return {
    cidrs: frozen,
    has(address: string): boolean {
      // Every spelling of one IPv4 address (mapped, compatible, hex groups, expanded) is matched
      // as that IPv4 address (normaliseAddress).
      const normal = frozen.length === 0 ? undefined : normaliseAddress(address);
      if (normal === undefined) return false;
      return list.check(normal, isIP(normal) === 4 ? 'ipv4' : 'ipv6');
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
