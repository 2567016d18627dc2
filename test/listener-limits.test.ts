import { once } from 'node:events';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Registry } from 'prom-client';
import t from 'tap';
import { buildCertificate, newKeyPairSync, newSerial } from '../src/ca/x509.js';
import { ConnectionLimits } from '../src/listeners/connection-limits.js';
import { sourceKey } from '../src/source-key.js';
import { descriptorsNeeded, openFileLimit } from '../src/listeners/descriptor-budget.js';
import { guardListener, type ListenerLimits } from '../src/listeners/listener-guard.js';
import { registerListenerMetrics } from '../src/listeners/listener-metrics.js';
import { createLogger } from '../src/log/logger.js';
import { spawnDaemon, writeTestConfig } from './helpers/daemon.js';
import { type InProcessDaemon, ManualClock, ManualTimers, startInProcess } from './helpers/in-process.js';

/** A client socket connected from `localAddress` (127.0.0.2 is another source on loopback). */
async function open(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  const s = connect({ port, host: '127.0.0.1', localAddress });
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** Resolves with the ms from now until the server closes `s` (at most `boundMs`, else rejects), and the bytes it sent. */
function closed(s: Socket, boundMs = 5000): Promise<{ ms: number; text: string }> {
  const start = performance.now();
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString('latin1')));
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve({ ms: 0, text });
    const timer = setTimeout(() => reject(new Error(`still open after ${boundMs} ms`)), boundMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - start, text });
    });
  });
}

/** Writes `bytes` one at a time, `everyMs` apart, until the socket closes. */
function trickle(s: Socket, bytes: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (s.destroyed || i >= bytes.length) return clearInterval(timer);
    s.write(bytes[i++]!);
  }, everyMs);
  s.once('close', () => clearInterval(timer));
}

const metrics = async (d: InProcessDaemon) => (await fetch(`${d.url}/metrics`)).text();
const refusedLines = (d: InProcessDaemon, listener: string, reason: string) =>
  d
    .logText()
    .split('\n')
    .filter((l) => l.includes(`"listener":"${listener}"`) && l.includes(`"reason":"${reason}"`));

const POST = (length: number) => `POST /acs HTTP/1.1\r\nHost: acs\r\nContent-Type: text/xml\r\nContent-Length: ${length}\r\n\r\n`;

t.test('CWMP: a body sent one byte at a time is cut at body_timeout, counted and logged', async (t) => {
  const d = await startInProcess(t.testdir(), { cwmp: { body_timeout: '500ms' } });
  t.teardown(() => d.daemon.stop());
  const s = await open(d.daemon.management.address!.port);
  s.write(POST(100));
  trickle(s, 'x'.repeat(100), 100);
  const { ms } = await closed(s);
  t.ok(ms >= 450, `closed after ${Math.round(ms)} ms, not before body_timeout`);
  t.match(await metrics(d), /stbd_connections_refused_total\{listener="cwmp",reason="body_timeout"\} 1\n/);
  t.equal(refusedLines(d, 'cwmp', 'body_timeout').length, 1);
});

t.test('CWMP: headers sent one byte at a time (slowloris) are cut at header_timeout', async (t) => {
  const d = await startInProcess(t.testdir(), { cwmp: { header_timeout: '500ms' } });
  t.teardown(() => d.daemon.stop());
  const s = await open(d.daemon.management.address!.port);
  trickle(s, `${POST(0).slice(0, -2)}X-Padding: ${'a'.repeat(200)}\r\n\r\n`, 50);
  const { ms } = await closed(s);
  t.ok(ms >= 450, `closed after ${Math.round(ms)} ms`);
  t.match(await metrics(d), /stbd_connections_refused_total\{listener="cwmp",reason="header_timeout"\} 1\n/);
});

t.test('certificate endpoint: a connection that never completes its TLS handshake is cut at header_timeout', async (t) => {
  const d = await startInProcess(t.testdir(), { certs: { header_timeout: '500ms' } });
  t.teardown(() => d.daemon.stop());
  const s = await open(d.daemon.certsEndpoint.port);
  const { ms } = await closed(s);
  t.ok(ms >= 450, `closed after ${Math.round(ms)} ms`);
  t.match(await metrics(d), /stbd_connections_refused_total\{listener="certs",reason="header_timeout"\} 1\n/);
});

t.test('idle kept-alive connections are closed after idle_timeout (CWMP, API, certificate endpoint)', async (t) => {
  const d = await startInProcess(t.testdir(), { cwmp: { idle_timeout: '500ms' }, api: { idle_timeout: '500ms' }, certs: { idle_timeout: '500ms' } });
  t.teardown(() => d.daemon.stop());
  const cwmp = await open(d.daemon.management.address!.port);
  cwmp.write('GET /acs HTTP/1.1\r\nHost: acs\r\n\r\n');
  const api = await open(d.daemon.api.port);
  api.write('GET /health HTTP/1.1\r\nHost: api\r\n\r\n');
  const certs = tlsConnect({ port: d.daemon.certsEndpoint.port, host: '127.0.0.1', rejectUnauthorized: false });
  certs.on('error', () => undefined);
  certs.write('GET /nowhere HTTP/1.1\r\nHost: certs\r\n\r\n');
  const [c, a, s] = await Promise.all([closed(cwmp), closed(api), closed(certs)]);
  t.match(c.text, /^HTTP\/1\.1 405 [^]*Keep-Alive: timeout=0/, 'answered, kept alive, then closed');
  t.match(a.text, /^HTTP\/1\.1 200 /);
  t.match(s.text, /^HTTP\/1\.1 404 /);
  for (const r of [c, a, s]) t.ok(r.ms >= 450, `closed after ${Math.round(r.ms)} ms`);
  t.ok(c.ms < 4000 && a.ms < 4000 && s.ms < 4000, 'not at the old keep-alive timeouts (30 s, 72 s, 5 s)');
});

t.test('CWMP past max_connections: 503 with Retry-After, then refused outright past twice the limit', async (t) => {
  const d = await startInProcess(t.testdir(), { cwmp: { max_connections: 2 } });
  t.teardown(() => d.daemon.stop());
  const port = d.daemon.management.address!.port;
  const served = [await open(port), await open(port)];
  const shed = [await open(port), await open(port)];
  const refused = await open(port);
  t.equal((await closed(refused)).text, '', 'closed without a byte');
  shed[0]!.write(POST(3) + 'abc');
  const answer = await closed(shed[0]!);
  t.match(answer.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  t.match(answer.text, /\r\nretry-after: 60\r\n/i);
  t.match(answer.text, /\r\nconnection: close\r\n/i);
  // A shed GET, which the endpoint itself would answer 405, gets the 503 alone: nothing behind the guard runs.
  shed[1]!.write('GET /acs HTTP/1.1\r\nHost: acs\r\n\r\n');
  t.match((await closed(shed[1]!)).text, /^HTTP\/1\.1 503 [^]*too many connections; retry later\n$/);
  // The connections it serves are served as before.
  served[0]!.write('GET /acs HTTP/1.1\r\nHost: acs\r\n\r\n');
  const [first] = (await once(served[0]!, 'data')) as [Buffer];
  t.match(first.toString(), /^HTTP\/1\.1 405 /);
  t.match(await metrics(d), /stbd_connections_refused_total\{listener="cwmp",reason="max_connections"\} 3\n/);
  t.match(await metrics(d), /stbd_connections_open\{listener="cwmp"\} 2\n/);
  const lines = refusedLines(d, 'cwmp', 'max_connections');
  t.equal(lines.length, 1, 'one line a minute, however many');
  t.match(JSON.parse(lines[0]!), { level: 40, listener: 'cwmp', reason: 'max_connections', limit: 2, count: 1, source: '127.0.0.1' });
  for (const s of [...served, ...shed]) s.destroy();
});

t.test('CWMP past max_connections_per_source: that source gets 503, another is served', async (t) => {
  const d = await startInProcess(t.testdir(), { cwmp: { max_connections_per_source: 1 } });
  t.teardown(() => d.daemon.stop());
  const port = d.daemon.management.address!.port;
  const first = await open(port);
  const second = await open(port);
  const other = await open(port, '127.0.0.2');
  second.write(POST(0));
  t.match((await closed(second)).text, /^HTTP\/1\.1 503 [^]*retry-after: 60/i);
  other.write(POST(0));
  const [answer] = (await once(other, 'data')) as [Buffer];
  t.match(answer.toString(), /^HTTP\/1\.1 401 /, 'another source reaches the session logic');
  t.match(await metrics(d), /stbd_connections_refused_total\{listener="cwmp",reason="max_connections_per_source"\} 1\n/);
  first.destroy();
  other.destroy();
});

t.test('API and certificate endpoint close connections past their limits at once', async (t) => {
  const d = await startInProcess(t.testdir(), { api: { max_connections_per_source: 1 }, certs: { max_connections: 1 } });
  t.teardown(() => d.daemon.stop());
  // The test's own API calls come from 127.0.0.1: fill 127.0.0.2's share.
  const api = [await open(d.daemon.api.port, '127.0.0.2'), await open(d.daemon.api.port, '127.0.0.2')];
  t.equal((await closed(api[1]!)).text, '');
  const certs = [await open(d.daemon.certsEndpoint.port), await open(d.daemon.certsEndpoint.port)];
  t.equal((await closed(certs[1]!)).text, '', 'closed before any TLS byte');
  const text = await metrics(d);
  t.match(text, /stbd_connections_refused_total\{listener="api",reason="max_connections_per_source"\} 1\n/);
  t.match(text, /stbd_connections_refused_total\{listener="certs",reason="max_connections"\} 1\n/);
  t.equal(refusedLines(d, 'api', 'max_connections_per_source').length, 1);
  api[0]!.destroy();
  certs[0]!.destroy();
});

t.test('450 idle connections under a 400-descriptor limit: the excess is refused, every listener goes on serving', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir, { cwmp: { max_connections: 50, header_timeout: '1s' }, certs: { max_connections: 20 }, api: { max_connections: 20 }, files: { listen: '' }, log: { level: 'info' } });
  const d = await spawnDaemon(config, { wrap: ['sh', '-c', 'ulimit -n 400 && exec "$0" "$@"'] });
  t.teardown(() => d.stop());
  t.notMatch(d.logs.join('\n'), /open-file limit/, 'the limits fit the descriptors: no warning');
  const flood = await Promise.all(Array.from({ length: 450 }, () => open(d.cwmpPort)));
  const health = await fetch(`${d.url}/health`);
  t.equal(health.status, 200, 'the API answers during the flood');
  await Promise.all(flood.map((s) => closed(s, 10_000)));
  const after = await open(d.cwmpPort);
  after.write(POST(0));
  const [answer] = (await once(after, 'data')) as [Buffer];
  t.match(answer.toString(), /^HTTP\/1\.1 401 /, 'CWMP serves again once the idle ones are cut');
  after.destroy();
  const text = await (await fetch(`${d.url}/metrics`)).text();
  t.match(text, /stbd_connections_refused_total\{listener="cwmp",reason="max_connections"\} 400\n/, '50 answered 503 when they speak, 350 closed at once');
  t.match(text, /stbd_connections_refused_total\{listener="cwmp",reason="header_timeout"\} 100\n/);
  t.ok(d.logs.some((l) => l.includes('"reason":"max_connections"')), 'logged');
});

t.test('a start whose limits exceed the open-file limit says so', async (t) => {
  const d = await spawnDaemon(writeTestConfig(t.testdir()), { wrap: ['sh', '-c', 'ulimit -n 400 && exec "$0" "$@"'] });
  t.teardown(() => d.stop());
  const line = d.logs.map((l) => JSON.parse(l)).find((l: { msg?: string }) => l.msg?.startsWith('the open-file limit'));
  t.match(line, { level: 40, openFileLimit: 400, needed: 2 * 10_000 + 10_000 + 256 + 2 * 2000 + 256 }, 'the file server counted too');
});

const LIMITS: ListenerLimits = { headerTimeoutMs: 1000, bodyTimeoutMs: 1000, idleTimeoutMs: 10_000, maxConnections: 10, maxConnectionsPerSource: 10 };

t.test('the guard on a bare server, its clock moved by hand: bytes after an idle spell get header_timeout', async (t) => {
  const clock = new ManualClock();
  const timers = new ManualTimers();
  const registry = new Registry();
  const server = createServer((_req, res) => res.end('ok'));
  guardListener(server, { name: 'test', limits: LIMITS, pastLimit: 'refuse' }, { clock, timers, log: createLogger('silent'), metrics: registerListenerMetrics(registry) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const s = await open(port);
  s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await once(s, 'data');
  const shut = closed(s);
  s.write('GET / HT');
  await new Promise((r) => setTimeout(r, 50));
  clock.advance(LIMITS.idleTimeoutMs);
  timers.fire();
  t.notOk(s.destroyed, 'the next request has begun: not idle');
  clock.advance(LIMITS.headerTimeoutMs - 1);
  timers.fire();
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(s.destroyed, 'within header_timeout');
  clock.advance(1);
  timers.fire();
  await shut;
  t.match(await registry.metrics(), /stbd_connections_refused_total\{listener="test",reason="header_timeout"\} 1\n/);
});

t.test('the guard on a bare server: an early answer does not free a body still arriving', async (t) => {
  const clock = new ManualClock();
  const timers = new ManualTimers();
  const registry = new Registry();
  // Answers at once, as a 401 does, without reading the body.
  const server = createServer((_req, res) => res.writeHead(401).end());
  guardListener(server, { name: 'test', limits: LIMITS, pastLimit: 'refuse' }, { clock, timers, log: createLogger('silent'), metrics: registerListenerMetrics(registry) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const s = await open((server.address() as { port: number }).port);
  s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab');
  await once(s, 'data');
  const shut = closed(s);
  clock.advance(LIMITS.bodyTimeoutMs);
  timers.fire();
  await shut;
  t.match(await registry.metrics(), /reason="body_timeout"\} 1\n/);
});

t.test('the guard on an HTTPS server sheds as on HTTP: 503 with Retry-After past max_connections', async (t) => {
  const keys = newKeyPairSync();
  const now = new Date();
  const cert = buildCertificate({ commonName: 'localhost', publicKeyPem: keys.publicKeyPem, serial: newSerial(), notBefore: now, notAfter: new Date(now.getTime() + 3_600_000), isCa: false }, { privateKeyPem: keys.privateKeyPem });
  const registry = new Registry();
  let handled = 0;
  const server = createHttpsServer({ cert, key: keys.privateKeyPem }, (_req, res) => void res.end(`handled ${++handled}`));
  guardListener(server, { name: 'tls', limits: { ...LIMITS, maxConnections: 1 }, pastLimit: 'shed', retryAfterS: 7 }, { clock: new ManualClock(), timers: new ManualTimers(), log: createLogger('silent'), metrics: registerListenerMetrics(registry) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const tls = async () => {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    s.on('error', () => undefined);
    await once(s, 'secureConnect');
    return s;
  };
  const served = await tls();
  const shed = await tls();
  shed.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const answer = await closed(shed);
  t.match(answer.text, /^HTTP\/1\.1 503 [^]*retry-after: 7\r\n/i);
  served.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const [ok] = (await once(served, 'data')) as [Buffer];
  t.match(ok.toString(), /handled 1$/, 'the shed request reached no handler');
  served.destroy();
});

t.test('connection limits: served, shed up to twice the limits, refused beyond; per source', async (t) => {
  const shedding = new ConnectionLimits(2, 10, true);
  t.same(['a', 'b', 'c', 'd', 'e'].map(() => shedding.admit('1.1.1.1').kind), ['served', 'served', 'shed', 'shed', 'refused']);
  shedding.release('1.1.1.1', { kind: 'served' });
  t.same(shedding.admit('2.2.2.2'), { kind: 'served' }, 'a served one closed: room for one');
  const perSource = new ConnectionLimits(100, 1, false);
  t.same([perSource.admit('1.1.1.1'), perSource.admit('1.1.1.1'), perSource.admit('2.2.2.2')], [{ kind: 'served' }, { kind: 'refused', reason: 'max_connections_per_source' }, { kind: 'served' }]);
  const sources = { '::ffff:192.0.2.7': '192.0.2.7', '192.0.2.7': '192.0.2.7', '2001:db8:0:1:aaaa::1': '2001:db8:0:1::/64', '2001:db8::1:2:3:4': '2001:db8::/64', '::1': '::/64', 'fe80::1%eth0': 'fe80::/64' };
  for (const [address, key] of Object.entries(sources)) t.equal(sourceKey(address), key, address);
});

t.test('descriptor budget: /proc/self/limits and what the listeners need', async (t) => {
  t.equal(openFileLimit('Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 524288               files\n'), 1024);
  t.equal(openFileLimit('Max open files            unlimited            unlimited            files\n'), undefined);
  t.equal(descriptorsNeeded([{ maxConnections: 10, sheds: true }, { maxConnections: 5, sheds: false }]), 256 + 25);
});
