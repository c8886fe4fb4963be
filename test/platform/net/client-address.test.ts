import { expect } from 'chai';
import fc from 'fast-check';
import { createNetworkList, normaliseAddress, parseCidr, resolveClientAddress } from '../../../platform/net/client-address.ts';
import { loadConfig } from '../../../system/config.ts';
import { createRegistry, RegistryError } from '../../../flows/apps/registry.ts';

describe('client address (right-to-left X-Forwarded-For)', function () {
  const none = createNetworkList([]);
  const proxies = createNetworkList(['127.0.0.1', '10.1.0.0/16', 'fd00::/8']);

  describe('networks', function () {
    it('matches IPv4 and IPv6 ranges and single hosts', function () {
      const list = createNetworkList(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1']);
      expect(list.has('10.255.1.2')).to.equal(true);
      expect(list.has('11.0.0.1')).to.equal(false);
      expect(list.has('192.0.2.7')).to.equal(true);
      expect(list.has('192.0.2.8')).to.equal(false);
      expect(list.has('2001:db8:1::5')).to.equal(true);
      expect(list.has('2001:DB8::5')).to.equal(true);
      expect(list.has('2001:db9::5')).to.equal(false);
      expect(list.has('::1')).to.equal(true);
      expect(list.has('0:0:0:0:0:0:0:1')).to.equal(true);
    });

    it('matches IPv4-mapped IPv6 addresses against IPv4 ranges, and the reverse', function () {
      expect(createNetworkList(['127.0.0.0/8']).has('::ffff:127.0.0.1')).to.equal(true);
      expect(createNetworkList(['127.0.0.0/8']).has('::ffff:7f00:1')).to.equal(true);
      expect(createNetworkList(['127.0.0.0/8']).has('::ffff:10.0.0.1')).to.equal(false);
      expect(createNetworkList(['::ffff:10.0.0.0/104']).has('10.2.3.4')).to.equal(true);
    });

    it('holds nothing that is not an IP', function () {
      const list = createNetworkList(['0.0.0.0/0', '::/0']);
      for (const s of ['', 'unknown', '10.0.0.1:80', '[::1]', ' 10.0.0.1', '010.0.0.1']) expect(list.has(s), s).to.equal(false);
      expect(list.has('203.0.113.1')).to.equal(true);
      expect(none.has('127.0.0.1')).to.equal(false);
    });

    it('parses ranges strictly', function () {
      expect(parseCidr('10.0.0.0/8')).to.deep.equal({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
      expect(parseCidr('2001:db8::/32')).to.deep.equal({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
      expect(parseCidr('192.0.2.1').prefix).to.equal(32);
      expect(parseCidr('::1').prefix).to.equal(128);
      for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0/8', 'example.com', '', 'fe80::1%eth0/64', '10.0.0.0/8/8']) {
        expect(() => parseCidr(bad), bad).to.throw(/not an IP|prefix/);
      }
    });

    it('normalises IPv4-mapped IPv6 to IPv4', function () {
      expect(normaliseAddress('::ffff:1.2.3.4')).to.equal('1.2.3.4');
      expect(normaliseAddress('::FFFF:1.2.3.4')).to.equal('1.2.3.4');
      expect(normaliseAddress('2001:DB8::1')).to.equal('2001:db8::1');
      expect(normaliseAddress('1.2.3.4')).to.equal('1.2.3.4');
      expect(normaliseAddress('nope')).to.equal(undefined);
    });
  });

  // Failed before the fix: only `::ffff:a.b.c.d` was made IPv4; `::ffff:0102:0304`,
  // `0:0:0:0:0:ffff:1.2.3.4` and `::1.2.3.4` stayed IPv6, and `::1.2.3.4` matched no IPv4 range.
  describe('every spelling of an IPv4 address is that address', function () {
    const forms: [string, string | undefined][] = [
      ['1.2.3.4', '1.2.3.4'],
      // IPv4-mapped (::ffff:0:0/96): dotted tail, hex groups, expanded zeros, uppercase
      ['::ffff:1.2.3.4', '1.2.3.4'],
      ['::FFFF:1.2.3.4', '1.2.3.4'],
      ['::ffff:0102:0304', '1.2.3.4'],
      ['::ffff:102:304', '1.2.3.4'],
      ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
      ['0:0:0:0:0:FFFF:0102:0304', '1.2.3.4'],
      ['0000:0000:0000:0000:0000:ffff:0102:0304', '1.2.3.4'],
      ['0::0:ffff:1.2.3.4', '1.2.3.4'],
      ['::ffff:0.0.0.0', '0.0.0.0'],
      ['::ffff:7f00:1', '127.0.0.1'],
      // IPv4-compatible (deprecated ::/96), except :: and ::1
      ['::1.2.3.4', '1.2.3.4'],
      ['::0102:0304', '1.2.3.4'],
      ['0:0:0:0:0:0:1.2.3.4', '1.2.3.4'],
      ['::0.0.0.2', '0.0.0.2'],
      ['::', '::'],
      ['::1', '::1'],
      ['::0.0.0.1', '::1'],
      ['0:0:0:0:0:0:0:1', '::1'],
      // Not IPv4: carried in IPv6 (6to4, NAT64, Teredo) or only close to the mapped prefix
      ['2002:0102:0304::1', '2002:102:304::1'],
      ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
      ['2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
      ['::ffff:0:1.2.3.4', '::ffff:0:102:304'],
      ['::fffe:1.2.3.4', '::fffe:102:304'],
      ['1::1.2.3.4', '1::102:304'],
      // Any other IPv6 address: RFC 5952 text
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0db8:0000:0001:0000:0000:0000:0000', '2001:db8:0:1::'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      // Not an address
      ['fe80::1%eth0', undefined],
      ['010.0.0.1', undefined],
      ['1.2.3.4.5', undefined],
      [':::1', undefined],
      ['::ffff:1.2.3.256', undefined],
      ['', undefined],
    ];
    for (const [raw, normal] of forms) {
      it(`${JSON.stringify(raw)} -> ${normal ?? 'not an address'}`, function () {
        expect(normaliseAddress(raw)).to.equal(normal);
      });
    }

    it('a network list matches each spelling as the IPv4 address it is', function () {
      const v4 = createNetworkList(['1.2.3.0/24']);
      for (const [raw, normal] of forms) if (normal === '1.2.3.4') expect(v4.has(raw), raw).to.equal(true);
      for (const raw of ['2002:0102:0304::1', '64:ff9b::1.2.3.4', '::ffff:0:1.2.3.4', '1::1.2.3.4', '::1.2.4.4']) expect(v4.has(raw), raw).to.equal(false);
      // A range written in IPv4-compatible form is the IPv4 range.
      expect(createNetworkList(['::1.2.3.0/120']).has('1.2.3.9')).to.equal(true);
      expect(createNetworkList(['::1.2.3.0/120']).has('::ffff:1.2.3.9')).to.equal(true);
      expect(createNetworkList(['::1.2.3.0/120']).has('1.2.4.9')).to.equal(false);
      // `::1` stays the IPv6 loopback: it is not 0.0.0.1.
      expect(createNetworkList(['0.0.0.0/8']).has('::1')).to.equal(false);
      expect(createNetworkList(['::1']).has('0:0:0:0:0:0:0.0.0.1')).to.equal(true);
    });

    it('a trusted proxy is recognised, and its client read, in any spelling', function () {
      const list = createNetworkList(['10.1.0.0/16']);
      for (const sock of ['10.1.2.3', '::ffff:10.1.2.3', '::ffff:a01:203', '::10.1.2.3']) {
        expect(resolveClientAddress(sock, '::ffff:c633:6414', list), sock).to.deep.equal({ address: '198.51.100.20', peer: '10.1.2.3', viaTrustedProxy: true });
      }
      // A trusted hop in another spelling is skipped like the plain one.
      expect(resolveClientAddress('10.1.2.3', '198.51.100.20, 0:0:0:0:0:ffff:10.1.9.9', list).address).to.equal('198.51.100.20');
      expect(resolveClientAddress('10.1.2.3', '[::ffff:198.51.100.20]:443', list).address).to.equal('198.51.100.20');
    });
  });

  describe('resolveClientAddress', function () {
    it('without trusted proxies the socket decides, whatever X-Forwarded-For says', function () {
      expect(resolveClientAddress('203.0.113.5', '10.0.0.5', none)).to.deep.equal({ address: '203.0.113.5', peer: '203.0.113.5', viaTrustedProxy: false });
      expect(resolveClientAddress('::ffff:203.0.113.5', '10.0.0.5', none).address).to.equal('203.0.113.5');
    });

    it('a peer that is not a trusted proxy is the client even when proxies are configured', function () {
      expect(resolveClientAddress('203.0.113.5', '10.0.0.5', proxies)).to.include({ address: '203.0.113.5', viaTrustedProxy: false });
    });

    it('through a trusted proxy: the rightmost untrusted entry, skipping trusted hops', function () {
      expect(resolveClientAddress('127.0.0.1', '198.51.100.9', proxies)).to.include({ address: '198.51.100.9', viaTrustedProxy: true });
      expect(resolveClientAddress('127.0.0.1', '198.51.100.9, 10.1.2.3', proxies).address).to.equal('198.51.100.9');
      expect(resolveClientAddress('::ffff:127.0.0.1', '198.51.100.9,10.1.2.3 , fd00::7', proxies).address).to.equal('198.51.100.9');
    });

    it('a spoofed leftmost entry does not help', function () {
      expect(resolveClientAddress('127.0.0.1', '10.0.0.5, 198.51.100.9', proxies).address).to.equal('198.51.100.9');
      expect(resolveClientAddress('127.0.0.1', '10.1.0.1, 198.51.100.9, 10.1.2.3', proxies).address).to.equal('198.51.100.9');
    });

    it('no header, or only trusted hops: the leftmost trusted hop', function () {
      expect(resolveClientAddress('127.0.0.1', undefined, proxies).address).to.equal('127.0.0.1');
      expect(resolveClientAddress('127.0.0.1', '', proxies).address).to.equal('127.0.0.1');
      expect(resolveClientAddress('127.0.0.1', '10.1.0.9, 10.1.2.3', proxies).address).to.equal('10.1.0.9');
    });

    it('a malformed entry: the request comes from the last trusted hop', function () {
      expect(resolveClientAddress('127.0.0.1', 'garbage', proxies).address).to.equal('127.0.0.1');
      expect(resolveClientAddress('127.0.0.1', '198.51.100.9, unknown', proxies).address).to.equal('127.0.0.1');
      expect(resolveClientAddress('127.0.0.1', '198.51.100.9, unknown, 10.1.2.3', proxies).address).to.equal('10.1.2.3');
      expect(resolveClientAddress('127.0.0.1', '198.51.100.9,', proxies).address).to.equal('127.0.0.1');
      expect(resolveClientAddress('127.0.0.1', 'fe80::1%eth0', proxies).address).to.equal('127.0.0.1');
      // An entry left of an untrusted one is never read, malformed or not.
      expect(resolveClientAddress('127.0.0.1', 'garbage, 198.51.100.9', proxies).address).to.equal('198.51.100.9');
    });

    it('reads entries with ports and brackets as some proxies write them', function () {
      expect(resolveClientAddress('127.0.0.1', '198.51.100.9:4711', proxies).address).to.equal('198.51.100.9');
      expect(resolveClientAddress('127.0.0.1', '[2001:db8::9]:443', proxies).address).to.equal('2001:db8::9');
      expect(resolveClientAddress('127.0.0.1', '[2001:DB8::9]', proxies).address).to.equal('2001:db8::9');
      expect(resolveClientAddress('127.0.0.1', '2001:db8::9', proxies).address).to.equal('2001:db8::9');
      expect(resolveClientAddress('127.0.0.1', '::ffff:198.51.100.9', proxies).address).to.equal('198.51.100.9');
      expect(resolveClientAddress('127.0.0.1', '[10.0.0.1]', proxies).address).to.equal('127.0.0.1');
    });

    it('IPv6 proxies and clients', function () {
      const v6 = createNetworkList(['2001:db8:ff::/48']);
      expect(resolveClientAddress('2001:db8:ff::1', '2001:db8:1::1, 2001:db8:ff::2', v6)).to.include({ address: '2001:db8:1::1', viaTrustedProxy: true });
      expect(resolveClientAddress('2001:db8:fe::1', '2001:db8:1::1', v6)).to.include({ address: '2001:db8:fe::1', viaTrustedProxy: false });
    });

    it('never throws, and answers the socket address or one X-Forwarded-For entry (fast-check)', function () {
      const entry = fc.oneof(
        fc.ipV4(), fc.ipV6(), fc.constantFrom('127.0.0.1', '10.1.2.3', 'fd00::1', '::ffff:10.1.0.1', 'unknown', '', ' '),
        fc.ipV4().map((ip) => `${ip}:8080`), fc.ipV6().map((ip) => `[${ip}]:443`), fc.string(), fc.string({ unit: 'binary' }),
      );
      const header = fc.oneof(fc.array(entry, { maxLength: 8 }).map((a) => a.join(', ')), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary', maxLength: 300 }));
      const socket = fc.oneof(fc.constantFrom('127.0.0.1', '::ffff:127.0.0.1', '10.1.9.9', 'fd00::2'), fc.ipV4(), fc.ipV6());
      fc.assert(
        fc.property(socket, fc.option(header, { nil: undefined }), (sock, xff) => {
          const r = resolveClientAddress(sock, xff, proxies);
          const candidates = [sock, ...(xff ?? '').split(',').map((e) => e.trim())].map((e) => normaliseAddress(e.replace(/^\[|\](:\d+)?$/g, '').replace(/^([\d.]+):\d+$/, '$1')) ?? e);
          expect(candidates).to.include(r.address);
          expect(r.peer).to.equal(normaliseAddress(sock));
          if (!proxies.has(r.peer)) expect(r.address).to.equal(r.peer);
        }),
        { numRuns: 1000 },
      );
    });
  });

  describe('configuration', function () {
    it('TRUSTED_PROXIES: IPs and ranges, comma-separated; none by default', function () {
      expect(loadConfig({}).trustedProxies).to.deep.equal([]);
      expect(loadConfig({ TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8,2001:db8::/32' }).trustedProxies).to.deep.equal(['127.0.0.1', '10.0.0.0/8', '2001:db8::/32']);
      expect(() => loadConfig({ TRUSTED_PROXIES: '10.0.0.0/40' })).to.throw(/^TRUSTED_PROXIES: .*prefix/);
      expect(() => loadConfig({ TRUSTED_PROXIES: 'proxy.internal' })).to.throw(/^TRUSTED_PROXIES: .*not an IP/);
    });

    const base = { appId: 'net-app', appSecret: 'x'.repeat(32), encKey: Buffer.alloc(32, 1).toString('base64url'), products: ['city-pass'] };
    const registryWith = (extra: Record<string, unknown>) => createRegistry({ apps: [{ ...base, ...extra }] });

    it('registry: trustedNetworks and requiredHeader are read and checked', function () {
      const app = registryWith({ trustedNetworks: ['10.0.0.0/8', '2001:db8::/32'], requiredHeader: { name: 'X-Operator-Subscriber-Id', claim: 'subscriber' } }).get('net-app')!;
      expect(app.trustedNetworks!.cidrs).to.deep.equal(['10.0.0.0/8', '2001:db8::/32']);
      expect(app.trustedNetworks!.has('10.9.9.9')).to.equal(true);
      expect(app.requiredHeader).to.deep.equal({ name: 'x-operator-subscriber-id', claim: 'subscriber' });
      const open = registryWith({}).get('net-app')!;
      expect(open.trustedNetworks).to.equal(undefined);
      expect(open.requiredHeader).to.equal(undefined);
    });

    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['an empty network list', { trustedNetworks: [] }, /trustedNetworks must be a non-empty list/],
      ['a network that is no range', { trustedNetworks: ['10.0.0.0/8', 'office'] }, /trustedNetworks: "office" is not an IP/],
      ['a prefix out of range', { trustedNetworks: ['10.0.0.0/64'] }, /trustedNetworks: .*prefix/],
      ['networks as a string', { trustedNetworks: '10.0.0.0/8' }, /trustedNetworks must be/],
      ['a header without claim', { requiredHeader: { name: 'x-sub' } }, /requiredHeader must be/],
      ['a header with unknown members', { requiredHeader: { name: 'x-sub', claim: 'sub', value: 'x' } }, /unknown members: value/],
      ['a header name that is no token', { requiredHeader: { name: 'x sub', claim: 'sub' } }, /not a header name/],
      ['a header the client sets', { requiredHeader: { name: 'X-Forwarded-For', claim: 'sub' } }, /header clients or the broker set/],
      ['a claim a strict JSON reader refuses', { requiredHeader: { name: 'x-sub', claim: 'constructor' } }, /requiredHeader.claim/],
      ['a claim with odd characters', { requiredHeader: { name: 'x-sub', claim: '__proto__' } }, /requiredHeader.claim/],
    ];
    for (const [name, extra, message] of bad) {
      it(`registry refuses ${name}`, function () {
        expect(() => registryWith(extra)).to.throw(RegistryError, message);
        expect(() => registryWith(extra)).to.throw(/^app registry app net-app: /);
      });
    }
  });
});
