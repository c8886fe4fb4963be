/**
 * Problem details never echo control characters (outside review, hardening issue): a detail that
 * quotes client input (a field name, a header value) had a NUL or an ESC in it as sent.
 */
import { expect } from 'chai';
import { Problem, problemFromBody, safeDetail } from '../../../platform/http/problem.ts';

/** C0, DEL, C1, bidi controls, zero-width characters, the BOM, separators, a lone surrogate. */
const UNSHOWABLE = [
  '\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u009b', '\u202e', '\u2066', '\u200e', '\u061c',
  '\u200b', '\u200d', '\u2060', '\ufeff', '\u2028', '\u2029', '\ud800', '\u{e0001}',
];

describe('problem details never echo control characters', function () {
  it('escapes each one as \\uXXXX in the detail, the message and the JSON body', function () {
    for (const c of UNSHOWABLE) {
      const p = new Problem('invalid_request', `key "a${c}b" is not allowed`);
      const cp = c.codePointAt(0)!;
      const escaped = cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
      expect(p.detail, escaped).to.equal(`key "a${escaped}b" is not allowed`);
      expect(p.message).to.equal(p.detail);
      const json = JSON.stringify(p.toJSON());
      expect(json.includes(c), escaped).to.equal(false);
      expect(/[\u0000-\u001f\u007f-\u009f]/.test(JSON.parse(json).detail), escaped).to.equal(false);
    }
  });

  it('leaves ordinary text alone, accents and emoji included', function () {
    for (const text of ['"profile" may be at most 1024 bytes as JSON.', 'Café 😀 — ok', 'tab-free\\n text']) {
      expect(safeDetail(text)).to.equal(text);
      expect(new Problem('invalid_request', text).detail).to.equal(text);
    }
    expect(new Problem('not_found').detail).to.equal('Nothing is here');
  });

  it('a relayed problem (problemFromBody) is escaped too', function () {
    const p = problemFromBody({ type: 'x', title: 'x', status: 400, code: 'invalid_request', detail: 'bad \u0000\u001b[2J' });
    expect(p.detail).to.equal('bad \\u0000\\u001b[2J');
  });
});
