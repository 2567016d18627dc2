import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { addDevice, basicInform, IGD, inform, param, setup, XML } from './helpers/cwmp-wire.js';
import type { InProcessDaemon } from './helpers/in-process.js';
import { RawCpe } from './helpers/raw-cpe.js';

/** A PROXY protocol v2 header (TCP over IPv4) saying the connection comes from `source`:`port`. */
function proxyV2(source: string, port: number): Buffer {
  const header = Buffer.from('0d0a0d0a000d0a515549540a' + '21' + '11' + '000c', 'hex');
  const addresses = Buffer.alloc(12);
  source.split('.').forEach((b, i) => (addresses[i] = Number(b)));
  Buffer.from([127, 0, 0, 1]).copy(addresses, 4);
  addresses.writeUInt16BE(port, 8);
  addresses.writeUInt16BE(7547, 10);
  return Buffer.concat([header, addresses]);
}

/** The Inform of a CPE whose ConnectionRequestURL is on `host`. */
const informFrom = (serial: string, host: string, port = 7547) => inform({ serial, params: param(`${IGD}ConnectionRequestURL`, `http://${host}:${port}/cr`) });

const management = async (d: InProcessDaemon, id: string) => (await d.api('GET', `/v1/devices/${id}`)).body.management;

const TRUSTED = { trusted_proxies: ['127.0.0.1/32', '2001:db8::/32'] };
const UNTRUSTED = { trusted_proxies: ['192.0.2.0/24'] };

t.test('PROXY v2 from a trusted proxy: NAT detection sees the client address the header names', async (t) => {
  const { d, port } = await setup(t, { cwmp: TRUSTED });
  await addDevice(d, 'stb-1');
  await addDevice(d, 'stb-2');
  // A CPE with a public address of its own: its ConnectionRequestURL is on the address its session comes from.
  const direct = new RawCpe(port, '127.0.0.1', { preamble: proxyV2('203.0.113.7', 51234) });
  t.equal((await basicInform(direct, 'stb-1', 'stb-1-pw', informFrom('S1', '203.0.113.7'))).status, 200);
  t.match(await management(d, 'stb-1'), { sourceAddress: '203.0.113.7', behindNat: false, natId: null });
  direct.close();
  // A CPE behind a home NAT: a LAN ConnectionRequestURL, its session from the gateway's public address.
  const natted = new RawCpe(port, '127.0.0.1', { preamble: proxyV2('198.51.100.9', 40000) });
  t.equal((await basicInform(natted, 'stb-2', 'stb-2-pw', informFrom('S2', '192.168.1.2'))).status, 200);
  t.match(await management(d, 'stb-2'), { sourceAddress: '198.51.100.9', behindNat: true, natId: '198.51.100.9' });
  natted.close();
  // v1, the text header, works the same.
  const v1 = new RawCpe(port, '127.0.0.1', { preamble: Buffer.from('PROXY TCP4 203.0.113.8 192.0.2.1 5000 7547\r\n') });
  t.equal((await basicInform(v1, 'stb-1', 'stb-1-pw', informFrom('S1', '203.0.113.8'))).status, 200);
  t.match(await management(d, 'stb-1'), { sourceAddress: '203.0.113.8', behindNat: false });
  v1.close();
});

t.test('PROXY v2 from a trusted proxy: the HTTP connection request goes to the client the header named', async (t) => {
  const { d, port } = await setup(t, { cwmp: { ...TRUSTED, connection_request_timeout: '10s' } });
  await addDevice(d, 'stb-1');
  const seen: string[] = [];
  // The CPE's own connection-request server, on an address other than the one the proxy connects from.
  const device = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(401, { 'www-authenticate': 'Digest realm="cpe", nonce="n", qop="auth"' }).end();
  });
  await new Promise<void>((resolve) => device.listen(0, '127.0.0.5', resolve));
  t.teardown(() => device.close());
  const crPort = (device.address() as AddressInfo).port;
  const cpe = new RawCpe(port, '127.0.0.1', { preamble: proxyV2('127.0.0.5', 40000) });
  t.equal((await basicInform(cpe, 'stb-1', 'stb-1-pw', informFrom('S1', '127.0.0.5', crPort))).status, 200);
  t.equal((await cpe.request('')).status, 204);
  cpe.close();
  t.match(await management(d, 'stb-1'), { sourceAddress: '127.0.0.5', behindNat: false });
  await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
  for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(seen.slice(0, 1), ['GET /cr'], 'the connection request reached the address the PROXY header named');
});

t.test('a PROXY header from an address that is not a trusted proxy is a malformed request: 400, nothing recorded', async (t) => {
  const { d, port } = await setup(t, { cwmp: UNTRUSTED });
  await addDevice(d, 'stb-1');
  const cpe = new RawCpe(port, '127.0.0.1', { preamble: proxyV2('203.0.113.7', 51234) });
  t.equal((await basicInform(cpe, 'stb-1', 'stb-1-pw', informFrom('S1', '203.0.113.7'))).status, 400);
  t.equal((await management(d, 'stb-1')).lastInformAt, null);
  // Without trusted proxies the same: nobody's header is read.
  const none = await setup(t, {});
  await addDevice(none.d, 'stb-1');
  const plain = new RawCpe(none.port, '127.0.0.1', { preamble: Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 5000 7547\r\n') });
  t.equal((await basicInform(plain, 'stb-1', 'stb-1-pw', informFrom('S1', '203.0.113.7'))).status, 400);
});

t.test('HTTPS behind a TCP proxy: the PROXY header comes before the TLS handshake; untrusted, the handshake fails', async (t) => {
  const { d } = await setup(t, { cwmp: { ...TRUSTED, tls_listen: '127.0.0.1:0' } });
  await addDevice(d, 'stb-1');
  const tlsPort = d.daemon.management.tlsAddress!.port;
  const cpe = new RawCpe(tlsPort, '127.0.0.1', { preamble: proxyV2('203.0.113.7', 51234), tls: { rejectUnauthorized: false } });
  t.equal((await basicInform(cpe, 'stb-1', 'stb-1-pw', informFrom('S1', '203.0.113.7'))).status, 200);
  t.equal((await cpe.request('')).status, 204, 'and the session goes on over the same connection');
  cpe.close();
  t.match(await management(d, 'stb-1'), { sourceAddress: '203.0.113.7', behindNat: false });

  const untrusted = await setup(t, { cwmp: { ...UNTRUSTED, tls_listen: '127.0.0.1:0' } });
  const stranger = new RawCpe(untrusted.d.daemon.management.tlsAddress!.port, '127.0.0.1', { preamble: proxyV2('203.0.113.7', 51234), tls: { rejectUnauthorized: false } });
  await t.rejects(stranger.request(informFrom('S1', '203.0.113.7'), XML));
});

t.test('X-Forwarded-For: the rightmost untrusted address, from trusted proxies only', async (t) => {
  const trusted = await setup(t, { cwmp: TRUSTED });
  await addDevice(trusted.d, 'stb-1');
  const viaProxy = new RawCpe(trusted.port);
  const forwarded: [string, string][] = [...XML, ['X-Forwarded-For', '203.0.113.66, 198.51.100.7, 2001:db8::1']];
  t.equal((await basicInform(viaProxy, 'stb-1', 'stb-1-pw', informFrom('S1', '192.168.1.2'), forwarded)).status, 200);
  t.match(await management(trusted.d, 'stb-1'), { sourceAddress: '198.51.100.7', behindNat: true, natId: '198.51.100.7' }, 'past the trusted 2001:db8::1; the client-written 203.0.113.66 does not count');
  // The proxy reuses the connection for another client: its cookieless request does not continue stb-1's session.
  const other = await viaProxy.request('', [['X-Forwarded-For', '198.51.100.99, 2001:db8::1']]);
  t.equal(other.status, 401, "another client on the proxy's connection is challenged, not handed the session");
  const own = await viaProxy.request('', [['X-Forwarded-For', '198.51.100.7, 2001:db8::1']]);
  t.equal(own.status, 200, 'stb-1 itself goes on in its session');
  t.match(own.body.toString('utf8'), /SetParameterValues/, 'and gets its next RPC (the keepalive settings stbd provisions behind NAT)');

  const untrusted = await setup(t, { cwmp: UNTRUSTED });
  await addDevice(untrusted.d, 'stb-1');
  t.equal((await basicInform(new RawCpe(untrusted.port), 'stb-1', 'stb-1-pw', informFrom('S1', '127.0.0.1'), forwarded)).status, 200);
  t.match(await management(untrusted.d, 'stb-1'), { sourceAddress: '127.0.0.1', behindNat: false }, 'ignored from anyone else');
});

t.test('max_connections_per_source: connections of a trusted proxy that name no client count in the total only; PROXY-named clients count as themselves', async (t) => {
  const { port } = await setup(t, { cwmp: { ...TRUSTED, max_connections_per_source: 1 } });
  // Two X-Forwarded-For connections of the proxy (127.0.0.1): its clients are many, so both are served.
  const a = new RawCpe(port);
  const b = new RawCpe(port);
  const xff: [string, string][] = [...XML, ['X-Forwarded-For', '198.51.100.7']];
  t.equal((await a.request(inform({ serial: 'S1' }), xff)).status, 401, 'served (challenged), not shed');
  t.equal((await b.request(inform({ serial: 'S2' }), [...XML, ['X-Forwarded-For', '198.51.100.8']])).status, 401, 'served too');
  // Two PROXY connections naming one client: that client has its one connection, the second is shed.
  const c = new RawCpe(port, '127.0.0.1', { preamble: proxyV2('203.0.113.7', 51234) });
  const e = new RawCpe(port, '127.0.0.1', { preamble: proxyV2('203.0.113.7', 51235) });
  t.equal((await c.request(inform({ serial: 'S3' }), XML)).status, 401);
  t.equal((await e.request(inform({ serial: 'S4' }), XML)).status, 503, 'the same client again: past its per-source limit');
  for (const x of [a, b, c, e]) x.close();
});
