/** The pooled CSPRNG draws (platform/crypto/random.ts): fresh bytes every time, each handed out once. */
import { expect } from 'chai';
import { randomBytesPooled } from '../../../platform/crypto/random.ts';

describe('pooled random bytes', function () {
  it('20,000 draws of sizes 1-64 across many pool refills: the right lengths, and no 12- or 16-byte draw twice', function () {
    const seen = new Set<string>();
    let total = 0;
    for (let i = 0; i < 20_000; i++) {
      const n = (i % 64) + 1;
      const b = randomBytesPooled(n);
      expect(b.length).to.equal(n);
      total += n;
      if (n === 12 || n === 16) {
        const hex = b.toString('hex');
        expect(seen.has(hex), 'a draw repeated').to.equal(false);
        seen.add(hex);
      }
    }
    expect(total).to.be.greaterThan(100 * 4096);
  });

  it('each draw is a buffer of its own: changing one changes no later draw, and draws are not zero', function () {
    const a = randomBytesPooled(32);
    a.fill(0xff);
    const b = randomBytesPooled(32);
    expect(b.equals(Buffer.alloc(32, 0xff))).to.equal(false);
    expect(b.equals(Buffer.alloc(32))).to.equal(false);
    expect(randomBytesPooled(1000)).to.have.length(1000);
  });

  it('the bytes look uniform: each bit is set in about half of 1 MiB', function () {
    const buf = Buffer.concat(Array.from({ length: 1 << 15 }, () => randomBytesPooled(32)));
    let ones = 0;
    for (const byte of buf) for (let bit = 0; bit < 8; bit++) ones += (byte >> bit) & 1;
    // 8 Mi bits: the standard deviation is ~1,450; 10 of them is far beyond chance.
    expect(Math.abs(ones - buf.length * 4)).to.be.below(15_000);
  });
});
