import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { FINAL_CODES, GATEWAY_CODES, MESSAGES, PAGE_CODES } from '../../h5/client/errors.ts';
import { PAYMENT_MESSAGES } from '../../h5/client/countersign.ts';
import { PROBLEM_CODES, PROBLEMS, isProblemCode, type ProblemCode } from '../../protocol/problems.ts';

const DOC = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const LINES = DOC.split('\n');

const statusesOf = (code: ProblemCode): number[] => {
  const p = PROBLEMS[code];
  return [p.status, ...('otherStatuses' in p ? p.otherStatuses : [])];
};
const numbersIn = (text: string): number[] => [...text.matchAll(/\b[1-5]\d\d\b/g)].map((m) => Number(m[0]));

/** The summary table: `| \`code\` | status | who sees it |`. */
const SUMMARY = new Map(
  LINES.flatMap((line) => {
    const m = /^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \|$/.exec(line);
    return m ? [[m[1]!, { status: m[2]!.trim(), who: m[3]!.trim() }] as const] : [];
  }),
);

/** The `## code — status` sections. */
const SECTIONS = new Map(
  LINES.flatMap((line) => {
    const m = /^## ([a-z_]+) — (.+)$/.exec(line);
    return m ? [[m[1]!, m[2]!] as const] : [];
  }),
);

describe('docs/errors.md against the problem table (protocol/problems.ts)', () => {
  it('parses the summary table and the sections (the test reads what it thinks it reads)', () => {
    expect(SUMMARY.size).to.be.greaterThan(10);
    expect(SECTIONS.size).to.be.greaterThan(10);
  });

  it('lists every code in the summary table with its status and other statuses', () => {
    for (const code of PROBLEM_CODES) {
      const row = SUMMARY.get(code);
      expect(row, `summary row for ${code}`).to.not.equal(undefined);
      expect(numbersIn(row!.status), `statuses of ${code} in the summary table`).to.deep.equal(statusesOf(code));
    }
  });

  it('has a `## code — status` section for every code, naming its status and other statuses', () => {
    for (const code of PROBLEM_CODES) {
      const heading = SECTIONS.get(code);
      expect(heading, `section for ${code}`).to.not.equal(undefined);
      expect(numbersIn(heading!), `statuses in the heading of ${code}`).to.deep.equal(statusesOf(code));
    }
  });

  it('names no code that is not in the table', () => {
    const documented = new Set([...SUMMARY.keys(), ...SECTIONS.keys()]);
    expect([...documented].filter((code) => !isProblemCode(code))).to.deep.equal([]);
  });

  it('names the WWW-Authenticate scheme of every 401 code as the table sends it', () => {
    const bullet = LINES.find((line) => line.startsWith('- `WWW-Authenticate`'));
    expect(bullet, 'the WWW-Authenticate bullet').to.be.a('string');
    // "... the `Signature` scheme with `a`, `b`; `Basic` with `c`; ..." -> code -> scheme
    const documented = new Map<string, string>();
    for (const clause of bullet!.slice(bullet!.indexOf(':') + 1).split(';')) {
      const names = [...clause.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      const scheme = names.find((n) => /^[A-Z][A-Za-z]+$/.test(n)); // Basic, Bearer, DPoP, Signature
      for (const n of names) if (isProblemCode(n)) documented.set(n, scheme ?? '(none)');
    }
    const expected = new Map<string, string>();
    for (const code of PROBLEM_CODES) {
      const p: { status: number; challenge?: string } = PROBLEMS[code];
      if (p.status === 401) expect(p.challenge, `challenge of ${code}`).to.be.a('string');
      if (p.challenge) expected.set(code, p.challenge.split(' ')[0]!);
    }
    expect(Object.fromEntries(documented)).to.deep.equal(Object.fromEntries(expected));
  });
});

describe("the H5 page's messages (h5/client/errors.ts) against the table and docs/errors.md", () => {
  const pageOwn: string[] = Object.values(PAGE_CODES);

  it('has its own words for every code docs/errors.md says the H5 page meets', () => {
    const meets = [...SUMMARY].filter(([, row]) => row.who.includes('H5 page')).map(([code]) => code);
    expect(meets.length).to.be.greaterThan(3);
    expect(meets.filter((code) => !(GATEWAY_CODES as readonly string[]).includes(code) && !Object.hasOwn(PAYMENT_MESSAGES, code))).to.deep.equal([]);
  });

  it("keeps the payment section's own codes in its chunk (h5/client/countersign.ts), each one the docs say it meets", () => {
    const section = [...SUMMARY].filter(([, row]) => row.who.includes('H5 page (its payment section)')).map(([code]) => code);
    expect(section.length).to.be.greaterThan(0);
    expect(Object.keys(PAYMENT_MESSAGES).sort()).to.deep.equal([...section].sort());
    for (const code of section) expect(isProblemCode(code), code).to.equal(true);
  });

  it('takes its gateway codes from the table, and its own codes are never problem codes', () => {
    for (const code of GATEWAY_CODES) expect(isProblemCode(code), code).to.equal(true);
    for (const code of pageOwn) expect(isProblemCode(code), code).to.equal(false);
  });

  it('has a message for exactly its gateway codes and its own codes, and final codes among them', () => {
    expect(Object.keys(MESSAGES).sort()).to.deep.equal([...GATEWAY_CODES, ...pageOwn].sort());
    for (const code of FINAL_CODES) expect(MESSAGES, code).to.have.property(code);
  });

  it("lists the page's own codes in docs/errors.md as h5/client/errors.ts has them", () => {
    const sentence = LINES.find((line) => line.includes('Its own codes are'));
    expect(sentence, "the page's own codes sentence").to.be.a('string');
    const listed = [...sentence!.slice(sentence!.indexOf('Its own codes are')).split('.')[0]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
    expect(listed.sort()).to.deep.equal([...pageOwn].sort());
  });
});
