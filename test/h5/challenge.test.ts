/** The page's proof-of-work solver (h5/client/sha256.ts, pow-solver.ts) against node:crypto and altcha-lib. */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { createChallenge, verifySolution } from 'altcha-lib/v1';
import { sha256Hex, sha256HexOf } from '../../h5/client/sha256.ts';
import { isAltchaChallenge, searchSlice, SLICE, solutionPayload } from '../../h5/client/pow-solver.ts';

describe("the H5 page's proof-of-work solver", function () {
  it('its SHA-256 equals node:crypto for lengths around the block boundaries and for non-ASCII text', function () {
    for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 200, 1000]) {
      const data = randomBytes(len);
      expect(sha256Hex(new Uint8Array(data)), `length ${len}`).to.equal(createHash('sha256').update(data).digest('hex'));
    }
    expect(sha256HexOf('Lisboa, Portugal — café')).to.equal(createHash('sha256').update('Lisboa, Portugal — café').digest('hex'));
  });

  it("solves a stock altcha-lib v1 challenge, and altcha-lib's own verifier accepts the payload", async function () {
    const hmacKey = 'test-key';
    const ch = await createChallenge({ hmacKey, maxnumber: 20_000, number: 12_345 });
    expect(isAltchaChallenge(ch)).to.equal(true);
    let found = -1;
    for (let from = 0; from <= ch.maxnumber! && found < 0; from += SLICE) found = searchSlice(ch as Parameters<typeof searchSlice>[0], from);
    expect(found).to.equal(12_345);
    const payload = solutionPayload(ch as Parameters<typeof solutionPayload>[0], found, 1);
    expect(await verifySolution(payload, hmacKey)).to.equal(true);
  });
});
