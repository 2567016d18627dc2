import { createServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../src/log/logger.js';
import { ProxiedConnections } from '../src/proxied-connections.js';
import { parseCidr, TrustedProxies } from '../src/trusted-proxies.js';

const SIGNATURE = '0d0a0d0a000d0a515549540a';
/** PROXY, TCP over IPv4, 203.0.113.7:51234 → 127.0.0.1:7547. */
const HEADER = Buffer.from(`${SIGNATURE}2111000ccb0071077f000001c8221d7b`, 'hex');
const GET = Buffer.from('GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');

/** A node:http server behind the PROXY reader, answering each request with the source it sees. */
async function serve(t: { teardown(fn: () => unknown): void }, trusted: string[], headerTimeoutMs = 5000) {
  let logs = '';
  const log = createLogger('debug', new Writable({ write: (c: Buffer, _e, cb) => ((logs += c.toString()), cb()) }));
  const proxied = new ProxiedConnections({ trusted: new TrustedProxies(trusted.map((c) => parseCidr(c)!)), headerTimeoutMs, log });
  const server = createServer((req, res) => res.end(proxied.sourceOf(req.socket)));
  proxied.install(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    proxied.destroyPending();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as AddressInfo).port, proxied, logs: () => logs };
}

/** Sends `chunks` one at a time (each its own write, a tick apart) and resolves with all that came back before the close. */
function exchange(port: number, chunks: Buffer[]): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (c) => (got += c.toString()));
    socket.on('close', () => resolve(got));
    socket.on('error', () => undefined);
    socket.once('connect', async () => {
      for (const c of chunks) {
        socket.write(c);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  });
}

const bodyOf = (reply: string) => reply.slice(reply.indexOf('\r\n\r\n') + 4);

t.test('a header arriving byte by byte, then the request: the server sees the source it names', async (t) => {
  const { port } = await serve(t, ['127.0.0.1']);
  const bytes = [...HEADER].map((b) => Buffer.from([b]));
  t.equal(bodyOf(await exchange(port, [...bytes, GET])), '203.0.113.7');
  t.equal(bodyOf(await exchange(port, [Buffer.concat([HEADER, GET])])), '203.0.113.7', 'and all in one segment');
});

t.test('from a trusted proxy, no header or a LOCAL one leaves the peer address', async (t) => {
  const { port } = await serve(t, ['127.0.0.0/8']);
  t.equal(bodyOf(await exchange(port, [GET])), '127.0.0.1');
  t.equal(bodyOf(await exchange(port, [Buffer.from(`${SIGNATURE}20000000`, 'hex'), GET])), '127.0.0.1');
});

t.test('from a trusted proxy, a malformed or oversize header closes the connection with a log line', async (t) => {
  const { port, logs } = await serve(t, ['127.0.0.1']);
  t.equal(await exchange(port, [Buffer.from(`${SIGNATURE}2f11000c`, 'hex'), GET]), '', 'unknown command: no answer');
  t.match(logs(), /connection from a trusted proxy refused: PROXY v2 header with unknown command 15/);
  // The length field says 65 KiB: refused on the 16th byte, without waiting for (or buffering) the rest.
  t.equal(await exchange(port, [Buffer.from(`${SIGNATURE}2111ffff`, 'hex')]), '');
  t.match(logs(), /PROXY v2 header of 65551 bytes, over the limit of 4096/);
});

t.test('a trusted proxy that sends nothing is dropped after the header timeout; shutdown drops those still waiting', async (t) => {
  const { port, logs } = await serve(t, ['127.0.0.1'], 50);
  t.equal(await exchange(port, []), '');
  t.match(logs(), /no PROXY header or request within 50 ms/);
  const slow = await serve(t, ['127.0.0.1']);
  const closed = exchange(slow.port, [HEADER.subarray(0, 10)]);
  await new Promise((r) => setTimeout(r, 50));
  slow.proxied.destroyPending();
  t.equal(await closed, '');
});

t.test('from anyone else the bytes go to the server as they are: a PROXY header is a bad request', async (t) => {
  const { port } = await serve(t, ['192.0.2.0/24']);
  t.match(await exchange(port, [Buffer.concat([HEADER, GET])]), /^HTTP\/1\.1 400 Bad Request/);
  t.equal(bodyOf(await exchange(port, [GET])), '127.0.0.1');
});
