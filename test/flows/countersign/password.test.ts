/** The offline authorization password's store steps on real Redis: scrypt only, failures counted before the comparison, locked at 5. */
import { expect } from 'chai';
import type { RedisStore } from '../../../platform/store/index.ts';
import { checkPassword, MAX_FAILURES, passwordKey, setPassword } from '../../../flows/countersign/password.ts';
import { connectTestRedis } from '../../support/env.ts';

describe('countersign: the offline authorization password (Redis)', function () {
  this.timeout(60_000);
  let store: RedisStore;
  before(async function () {
    store = await connectTestRedis(this);
  });
  after(async () => store?.close());
  const failuresOf = async (owner: { app: string; sub: string }) => JSON.parse((await store.get(passwordKey(owner)))!).failures as number;

  it('is set once, stored as a salted scrypt hash; a success resets the count of failures', async function () {
    const owner = { app: 'demo-app', sub: 'pw-reset' };
    const other = { app: 'demo-app', sub: 'pw-reset-2' };
    expect(await setPassword(store, owner, 'correct horse')).to.equal(true);
    expect(await setPassword(store, owner, 'another one')).to.equal(false);
    expect(await setPassword(store, other, 'correct horse')).to.equal(true);
    const [a, b] = [JSON.parse((await store.get(passwordKey(owner)))!), JSON.parse((await store.get(passwordKey(other)))!)];
    expect(a.alg).to.equal('scrypt');
    expect(a.salt).to.not.equal(b.salt);
    expect(a.hash).to.not.equal(b.hash);
    for (let i = 0; i < MAX_FAILURES - 1; i++) expect(await checkPassword(store, owner, 'wrong')).to.equal(false);
    expect(await failuresOf(owner)).to.equal(4);
    expect(await checkPassword(store, owner, 'correct horse')).to.equal(true);
    expect(await failuresOf(owner)).to.equal(0);
  });

  it('a burst of 12 concurrent guesses reaches the comparison at most 5 times; then even the right password is refused', async function () {
    const owner = { app: 'demo-app', sub: 'pw-burst' };
    await setPassword(store, owner, 'correct horse');
    const answers = await Promise.all(Array.from({ length: 12 }, () => checkPassword(store, owner, 'wrong guess')));
    expect(answers.every((a) => a === false)).to.equal(true);
    expect(await failuresOf(owner)).to.equal(MAX_FAILURES);
    expect(await checkPassword(store, owner, 'correct horse')).to.equal(false);
    expect(await failuresOf(owner)).to.equal(MAX_FAILURES);
  });

  it('no password set: refused', async function () {
    expect(await checkPassword(store, { app: 'demo-app', sub: 'pw-none' }, 'anything')).to.equal(false);
  });
});
