import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { digestResponse, parseAuthParams } from '../src/http-digest.js';
import { uploadKindOf } from '../src/sim/rpc-handler.js';
import { uploadFile } from '../src/sim/upload-client.js';

/** A file server that records what it got and answers with `answer`. */
async function server(t: { teardown(fn: () => unknown): void }, answer: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void) {
  const got: { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }[] = [];
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      got.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(req, body, res);
    });
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => s.close(resolve)));
  return { got, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

const base = { contentType: 'text/plain; charset=utf-8', username: '', password: '', timeoutMs: 5000 } as const;

t.test('PUT or POST of the file; a 2xx is success, anything else a failure with its status', async (t) => {
  const s = await server(t, (req, _b, res) => res.writeHead(req.url === '/full' ? 413 : 201).end());
  const body = Buffer.from('InternetGatewayDevice.Time.NTPServer1=pool.ntp.org\n');
  t.same(await uploadFile({ ...base, url: `${s.url}/up/1/tok`, method: 'PUT', body }), { ok: true, status: 201 });
  t.match(s.got[0], { method: 'PUT', url: '/up/1/tok', headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length) } });
  t.same(s.got[0]?.body, body);
  t.same(await uploadFile({ ...base, url: `${s.url}/post`, method: 'POST', body }), { ok: true, status: 201 });
  t.equal(s.got[1]?.method, 'POST');
  t.same(await uploadFile({ ...base, url: `${s.url}/full`, method: 'PUT', body }), { ok: false, status: 413, error: 'HTTP 413' });
  const refused = await uploadFile({ ...base, url: 'http://127.0.0.1:1/x', method: 'PUT', body });
  t.match(refused, { ok: false, error: /ECONNREFUSED/ });
});

t.test('the Upload RPC\'s Username and Password answer a Digest challenge', async (t) => {
  const user = { username: 'up', password: 'load' };
  const s = await server(t, (req, _b, res) => {
    const auth = req.headers.authorization;
    if (!auth) return res.writeHead(401, { 'www-authenticate': 'Digest realm="files", nonce="n1", qop="auth"' }).end();
    const p = parseAuthParams(auth.slice('Digest '.length));
    const expected = digestResponse({ ...user, realm: 'files', method: 'PUT', uri: p['uri'] ?? '', nonce: 'n1', qop: { nc: p['nc'] ?? '', cnonce: p['cnonce'] ?? '' } });
    res.writeHead(p['response'] === expected ? 204 : 403).end();
  });
  t.same(await uploadFile({ ...base, ...user, url: `${s.url}/log?x=1`, method: 'PUT', body: Buffer.from('log') }), { ok: true, status: 204 });
  t.same(await uploadFile({ ...base, url: `${s.url}/log`, method: 'PUT', body: Buffer.from('log') }), { ok: false, status: 401, error: 'HTTP 401' }, 'no credentials: the 401 stands');
});

t.test('FileType: the configuration file or the log, instance forms included', async (t) => {
  t.equal(uploadKindOf('1 Vendor Configuration File'), 'config');
  t.equal(uploadKindOf('3 Vendor Configuration File 2'), 'config');
  t.equal(uploadKindOf('2 Vendor Log File'), 'log');
  t.equal(uploadKindOf('4 Vendor Log File 1'), 'log');
  t.equal(uploadKindOf('1 Firmware Upgrade Image'), undefined);
});
