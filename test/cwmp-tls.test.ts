import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildCertificate, newKeyPair, newSerial } from '../src/ca/x509.js';
import { credentialsOf } from '../src/sim/credentials.js';
import { SimOptionError, Simulator } from '../src/sim/index.js';
import { testCa } from './helpers/certs.js';
import { addDevice, digestInform, inform, XML } from './helpers/cwmp-wire.js';
import { type InProcessDaemon, startInProcess } from './helpers/in-process.js';
import { RawCpe } from './helpers/raw-cpe.js';

type Ca = Awaited<ReturnType<typeof testCa>>;

/** A daemon with the HTTPS endpoint (builtin server certificate) beside HTTP, trusting `ca` for client certificates. */
async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, ca: Ca) {
  const dir = t.testdir();
  const caFile = join(dir, 'cpe-ca.pem');
  writeFileSync(caFile, ca.certPem);
  const d = await startInProcess(dir, { cwmp: { tls_listen: '127.0.0.1:0', client_ca_file: caFile } });
  t.teardown(() => d.daemon.stop());
  const builtinCa: string = (await d.api('GET', '/v1/ca')).body.pem;
  const tlsPort = d.daemon.management.tlsAddress!.port;
  /** A CPE on the HTTPS endpoint that verifies stbd's certificate (builtin CA) and presents `client`, if any. */
  const cpe = (client?: { cert: string; key: string }) => new RawCpe(tlsPort, '127.0.0.1', { tls: { ca: builtinCa, servername: 'localhost', ...client } });
  return { d, dir, builtinCa, tlsPort, cpe };
}

const lastInform = async (d: InProcessDaemon, id: string) => (await d.api('GET', `/v1/devices/${id}`)).body.management?.lastInformAt ?? null;

t.test('HTTPS: a CPE with a client certificate naming its device id is that device, with no Authorization header', async (t) => {
  const ca = await testCa();
  const { d, cpe } = await setup(t, ca);
  await addDevice(d, 'stb-1');
  const cpe1 = cpe(await ca.issue('stb-1'));
  t.equal((await cpe1.request('')).status, 401, "an empty probe (libcurl's Digest) is challenged as without a certificate");
  const informed = await cpe1.request(inform({ serial: 'S1', events: ['1 BOOT'] }), XML);
  t.equal(informed.status, 200, 'no 401 challenge first');
  t.match(informed.text, /<cwmp:InformResponse>/);
  t.equal((await cpe1.request('')).status, 204, 'the session goes on in the cookie-less connection, and ends');
  t.not(await lastInform(d, 'stb-1'), null, 'the Inform is recorded on stb-1');
  t.match(d.logText(), /CWMP HTTPS endpoint: server certificate loaded/);

  // The same Inform over plain HTTP, where there is no certificate: challenged.
  const plain = new RawCpe(d.daemon.management.address!.port);
  t.equal((await plain.request(inform({ serial: 'S1' }), XML)).status, 401);
  plain.close();
  cpe1.close();
});

t.test('HTTPS: Digest keeps working for CPEs without a certificate; a certificate naming no registered device falls back to it', async (t) => {
  const ca = await testCa();
  const { d, cpe } = await setup(t, ca);
  await addDevice(d, 'stb-2');
  const noCert = cpe();
  t.equal((await noCert.request(inform({ serial: 'S2' }), XML)).status, 401, 'challenged');
  t.equal((await digestInform(noCert, 'stb-2', 'stb-2-pw', inform({ serial: 'S2' }))).status, 200, 'Digest over TLS');
  noCert.close();

  const stranger = cpe(await ca.issue('not-registered'));
  t.equal((await stranger.request(inform({ serial: 'S9' }), XML)).status, 401, 'a verified certificate of nobody is no login');
  stranger.close();
  t.equal((await d.api('GET', '/v1/devices/not-registered')).status, 404);
});

t.test('HTTPS: a client certificate that does not chain to client_ca_file is refused with a log line, and nothing is recorded', async (t) => {
  const ca = await testCa();
  const other = await testCa('another CA');
  const { d, cpe } = await setup(t, ca);
  await addDevice(d, 'stb-1');
  const forged = cpe(await other.issue('stb-1'));
  await t.rejects(forged.request(inform({ serial: 'S1' }), XML), /connection closed before a whole answer/);
  await t.rejects(cpe(await other.issue('stb-1')).request(inform({ serial: 'S1' }), XML), /connection closed before a whole answer/);
  const lines = d.logText().split('\n').filter((l) => l.includes('CWMP client certificate refused'));
  t.equal(lines.length, 1, 'a stranger retrying makes one line a minute, not one per connection');
  t.match(lines[0], /client certificate refused \(\[cwmp\] client_ca_file\); connection closed: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT)/);
  t.match(await (await fetch(`${d.url}/metrics`)).text(), /stbd_cwmp_logins_refused_total\{reason="client_certificate"\} 2/);
  t.equal(await lastInform(d, 'stb-1'), null);
});

t.test('HTTPS instead of HTTP: listen = "" turns plain HTTP off', async (t) => {
  const d = await startInProcess(t.testdir(), { cwmp: { listen: '', tls_listen: '127.0.0.1:0' } });
  t.teardown(() => d.daemon.stop());
  t.equal(d.daemon.management.address, undefined);
  t.ok(d.daemon.management.tlsAddress?.port);
  const health = await d.api('GET', '/health');
  t.match(JSON.stringify(health.body), /cwmp-tls 127\.0\.0\.1:\d+/);
  t.notMatch(JSON.stringify(health.body), /cwmp 127/);
});

t.test('stbsim over HTTPS: it verifies stbd with --ca-file and logs in with its own --cert/--key ({id})', async (t) => {
  const ca = await testCa();
  const { d, dir, builtinCa, tlsPort } = await setup(t, ca);
  const sim = { prefix: 'tls-', count: 2 };
  for (const i of [1, 2]) {
    const id = `tls-000${i}`;
    // Registered with a CWMP password the STB does not have: only its certificate can log it in.
    const { stunUsername, stunPassword, crUsername, crPassword } = credentialsOf('stbsim', id);
    await addDevice(d, id, { stunUsername, stunPassword, crUsername, crPassword, cwmpPassword: 'not-what-the-stb-has' });
    const issued = await ca.issue(id);
    writeFileSync(join(dir, `${id}.crt`), issued.cert);
    writeFileSync(join(dir, `${id}.key`), issued.key);
  }
  writeFileSync(join(dir, 'stbd-ca.pem'), builtinCa);
  const simulator = new Simulator({ ...sim, acsUrl: `https://localhost:${tlsPort}/acs`, caFile: join(dir, 'stbd-ca.pem'), certFile: join(dir, '{id}.crt'), keyFile: join(dir, '{id}.key') });
  t.teardown(() => simulator.stop());
  const ended = Promise.all(['tls-0001', 'tls-0002'].map((id) => simulator.waitFor('session-end', (e) => e.device === id, 10_000)));
  await simulator.start();
  for (const e of await ended) t.ok(e.ok, `${e.device}: ${e.error ?? 'session completed'}`);
  t.not(await lastInform(d, 'tls-0002'), null);

  // Without --ca-file it does not trust stbd's builtin certificate.
  const untrusting = new Simulator({ ...sim, count: 1, acsUrl: `https://localhost:${tlsPort}/acs`, certFile: join(dir, '{id}.crt'), keyFile: join(dir, '{id}.key') });
  t.teardown(() => untrusting.stop());
  const refused = untrusting.waitFor('session-end', undefined, 10_000);
  await untrusting.start();
  t.match((await refused).error, /certificate/i);

  t.throws(() => new Simulator({ certFile: 'a.crt' }), { name: 'SimOptionError', message: /--cert and --key go together/ });
  t.throws(() => new Simulator({ caFile: join(dir, 'missing.pem') }), SimOptionError);
});

t.test('HTTPS with the operator\'s certificate (tls_cert_file, tls_key_file); an unreadable client_ca_file stops the start with its key named', async (t) => {
  const ca = await testCa('operator CA');
  const dir = t.testdir();
  const keys = await newKeyPair();
  const now = Date.now();
  const cert = buildCertificate(
    { commonName: 'acs.example.net', publicKeyPem: keys.publicKeyPem, serial: newSerial(), notBefore: new Date(now - 86_400_000), notAfter: new Date(now + 86_400_000), isCa: false, server: { dnsNames: ['acs.example.net'], ips: ['127.0.0.1'] } },
    ca,
  );
  writeFileSync(join(dir, 'acs.crt'), cert);
  writeFileSync(join(dir, 'acs.key'), keys.privateKeyPem, { mode: 0o600 });
  const d = await startInProcess(dir, { cwmp: { tls_listen: '127.0.0.1:0', tls_cert_file: join(dir, 'acs.crt'), tls_key_file: join(dir, 'acs.key') } });
  t.teardown(() => d.daemon.stop());
  const cpe = new RawCpe(d.daemon.management.tlsAddress!.port, '127.0.0.1', { tls: { ca: ca.certPem, servername: 'acs.example.net' } });
  t.equal((await cpe.request(inform({ serial: 'S1' }), XML)).status, 401, 'verified as acs.example.net; no client certificate asked for, so Digest it is');
  cpe.close();
  t.match(d.logText(), /"source":"files".*CWMP HTTPS endpoint: server certificate loaded/);

  await t.rejects(startInProcess(t.testdir(), { cwmp: { tls_listen: '127.0.0.1:0', client_ca_file: '/nonexistent/cpe-ca.pem' } }), { message: '[cwmp] client_ca_file /nonexistent/cpe-ca.pem: cannot read it (ENOENT)' });
});
