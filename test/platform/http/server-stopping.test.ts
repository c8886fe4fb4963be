/** onServerStopping: an answer that never ends by itself (a held stream) is ended when the drain starts. */
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpServer, drainServers, onServerStopping } from '../../../platform/http/server.ts';

describe('HTTP server: a held answer ends when the graceful stop starts', function () {
  it('the hook is called once at the stop, so the drain ends long before its deadline; a forgotten hook is not called', async function () {
    const calls: string[] = [];
    const server = createHttpServer();
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      if (req.url === '/forgotten') {
        const forget = onServerStopping(res, () => calls.push('forgotten'));
        forget();
        setTimeout(() => res.end(), 50);
        return;
      }
      onServerStopping(res, () => {
        calls.push('held');
        res.end('data: bye\n\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const read = (path: string) => new Promise<string>((resolve, reject) => {
      http.get({ port, host: '127.0.0.1', path }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    const held = read('/held');
    const forgotten = read('/forgotten');
    await new Promise((r) => setTimeout(r, 100));
    // An hour of grace: the test would time out were the drain to wait for the held answer.
    await drainServers([server], Date.now() + 3_600_000);
    expect(await held).to.equal(': open\n\ndata: bye\n\n');
    expect(await forgotten).to.equal(': open\n\n');
    expect(calls).to.deep.equal(['held']);
  });
});
