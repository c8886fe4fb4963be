/** The gate's micro-benchmark must measure accepted checks, or its figures measure refusals. */
import { expect } from 'chai';
import { measureChallenge } from '../../bench/challenge.ts';

describe('benchmark of the proof-of-work gate', function () {
  it('measures solutions and passes that are accepted (it throws when one is refused)', async function () {
    const costs = await measureChallenge(100);
    for (const v of Object.values(costs)) expect(v).to.be.a('number').and.above(0);
  });
});
