/** TOTP against RFC 6238 Appendix B's published values and against Debian's `oathtool` (oath-toolkit). */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { base32, matchingStep, otpauthUri, totp, type TotpAlgorithm } from '../../../flows/binding/totp.ts';
import { IN_CI } from '../../support/env.ts';

const SEEDS: Record<TotpAlgorithm, Buffer> = {
  sha1: Buffer.from('12345678901234567890'),
  sha256: Buffer.from('12345678901234567890123456789012'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234'),
};
/** RFC 6238 Appendix B: time, then the 8-digit codes for SHA-1, SHA-256, SHA-512. */
const VECTORS: [number, string, string, string][] = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];

function oathtool(args: string[]): string | undefined {
  try {
    return execFileSync('oathtool', args, { encoding: 'utf8' }).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

describe('binding: TOTP (RFC 6238)', function () {
  it('gives RFC 6238 Appendix B values (8 digits; SHA-1, SHA-256, SHA-512 with their seed lengths)', function () {
    for (const [t, sha1, sha256, sha512] of VECTORS) {
      expect(totp(SEEDS.sha1, t, { digits: 8, algorithm: 'sha1' }), `sha1 @${t}`).to.equal(sha1);
      expect(totp(SEEDS.sha256, t, { digits: 8, algorithm: 'sha256' }), `sha256 @${t}`).to.equal(sha256);
      expect(totp(SEEDS.sha512, t, { digits: 8, algorithm: 'sha512' }), `sha512 @${t}`).to.equal(sha512);
    }
  });

  it("agrees with oathtool on random 160-bit keys (SHA-1, 6 digits, 30 s), given as base32 as in the otpauth URI", function () {
    if (oathtool(['--version']) === undefined) {
      if (IN_CI) throw new Error('oathtool is missing (.ci/run installs Debian\'s oathtool)');
      this.skip();
    }
    for (let i = 0; i < 20; i++) {
      const key = randomBytes(20);
      const t = 1_000_000_000 + Math.floor(Math.random() * 1_000_000_000);
      const secret = new URL(otpauthUri(key, { issuer: 'H5 broker', account: 'demo-app:alice' }).replace('otpauth:', 'http:')).searchParams.get('secret')!;
      expect(secret).to.equal(base32(key));
      expect(totp(key, t)).to.equal(oathtool(['--totp', '-b', `--now=@${t}`, secret]));
      expect(totp(key, t, { algorithm: 'sha256', digits: 8 })).to.equal(oathtool(['--totp=sha256', '-d', '8', `--now=@${t}`, key.toString('hex')]));
    }
  });

  it('accepts one step either way and no further; refuses malformed codes', function () {
    const key = randomBytes(20);
    const t = 1_700_000_015;
    const step = Math.floor(t / 30);
    expect(matchingStep(key, totp(key, t), t)).to.equal(step);
    expect(matchingStep(key, totp(key, t - 30), t)).to.equal(step - 1);
    expect(matchingStep(key, totp(key, t + 30), t)).to.equal(step + 1);
    for (const far of [t - 60, t + 60]) {
      const c = totp(key, far);
      if (![t - 30, t, t + 30].some((n) => totp(key, n) === c)) expect(matchingStep(key, c, t)).to.equal(undefined);
    }
    for (const bad of ['', '12345', '1234567', '12345a', ' 123456']) expect(matchingStep(key, bad, t)).to.equal(undefined);
  });
});
