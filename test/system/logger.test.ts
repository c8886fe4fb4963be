import { Writable } from 'node:stream';
import { expect } from 'chai';
import { createBrokerLogger, REDACT_PATHS } from '../../system/logger.ts';
import { audit } from '../../flows/audit.ts';

function capture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

describe("the broker's logger (system/logger.ts over platform/log/logger.ts)", () => {
  it('blanks every secret-bearing path the broker names, and keeps the rest', () => {
    const { lines, stream } = capture();
    const log = createBrokerLogger('test', 'info', stream);
    log.info({
      req: { headers: { authorization: 'Bearer vt-secret', signature: 'sig=:x:', 'signature-input': 'sig=()', 'x-broker-internal': 'internal', 'x-broker-vt': 'vt', 'x-request-id': 'kept-id-1' } },
      headers: { authorization: 'Basic abc' },
      body: { envelope: 'jwe', accessToken: 'at-secret', userId: 'kept-user' },
      reply: { at: 'a', vt: 'v', token: 't', accessToken: 'x', envelope: 'e', appSecret: 's', encKey: 'k', secret: 's2', privateKey: 'p', d: 'd', appId: 'kept-app' },
    }, 'line');
    expect(lines).to.have.length(1);
    const line = lines[0] as any;
    for (const h of ['authorization', 'signature', 'signature-input', 'x-broker-internal', 'x-broker-vt']) expect(line.req.headers[h], h).to.equal('[redacted]');
    expect(line.req.headers['x-request-id']).to.equal('kept-id-1');
    expect(line.headers.authorization).to.equal('[redacted]');
    expect(line.body).to.deep.equal({ envelope: '[redacted]', accessToken: '[redacted]', userId: 'kept-user' });
    for (const k of ['at', 'vt', 'token', 'accessToken', 'envelope', 'appSecret', 'encKey', 'secret', 'privateKey', 'd']) expect(line.reply[k], k).to.equal('[redacted]');
    expect(line.reply.appId).to.equal('kept-app');
    expect(REDACT_PATHS.length).to.equal(18);
  });

  it('writes an audit line as {audit: event, ...fields} with the event as its message', () => {
    const { lines, stream } = capture();
    audit(createBrokerLogger('test', 'info', stream), 'vt.revoked', { appId: 'app-1', reason: 'rfc7009', reqId: 'r1' });
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ audit: 'vt.revoked', appId: 'app-1', reason: 'rfc7009', reqId: 'r1', msg: 'vt.revoked', name: 'test', level: 30 });
  });
});
