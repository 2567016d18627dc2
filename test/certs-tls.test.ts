import { createPrivateKey, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { BuiltinCa } from '../src/ca/builtin-ca.js';
import { SqliteCaRepo } from '../src/ca/ca-repo.js';
import { loadMasterKey } from '../src/ca/master-key.js';
import { SealedBox } from '../src/ca/sealed-box.js';
import { SigningPool } from '../src/ca/signing-pool.js';
import { builtinServerTls, CERTS_ENDPOINT, endpointNames } from '../src/ca/server-tls.js';

const SERVER_COMMON_NAME = CERTS_ENDPOINT.commonName;
import { openDatabase } from '../src/store/database.js';
import { ManualClock, startInProcess } from './helpers/in-process.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const YEAR = 365 * 86_400_000;

const storedPem = (dir: string, name: string): string | undefined => {
  const db = new Database(join(dir, 'stbd.db'), { readonly: true });
  try {
    return (db.prepare('SELECT cert_pem FROM ca WHERE name = ?').get(name) as { cert_pem: string } | undefined)?.cert_pem;
  } finally {
    db.close();
  }
};

/** A POST over HTTPS that verifies the server the way an STB trusting only the builtin CA does. */
function verifiedPost(port: number, opts: { ca?: string[]; servername?: string }): Promise<{ status: number; peer: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v1/certificate', method: 'POST', headers: { 'content-type': 'application/json' }, agent: false, ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.servername ? { servername: opts.servername } : {}) },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, peer: (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate()! }));
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

t.test('the builtin server certificate is a TLS server certificate: a client trusting the builtin CA verifies the endpoint', async (t) => {
  const dir = t.testdir();
  const d = await startInProcess(dir);
  t.teardown(() => d.daemon.stop());
  const port = d.daemon.certsEndpoint.port;
  const caPem = storedPem(dir, 'builtin')!;

  const byIp = await verifiedPost(port, { ca: [caPem] });
  t.equal(byIp.status, 400, 'connected and answered (an empty proof is a bad request), rejectUnauthorized left on');
  const peer = byIp.peer;
  t.equal(peer.subject, `CN=${SERVER_COMMON_NAME}`);
  t.same(peer.keyUsage, [SERVER_AUTH], 'extended key usage serverAuth');
  t.equal(peer.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  t.ok(peer.verify(new X509Certificate(caPem).publicKey), 'issued by the builtin CA');
  t.equal((await verifiedPost(port, { ca: [caPem], servername: 'localhost' })).status, 400, 'as "localhost" too');

  await t.rejects(verifiedPost(port, { ca: [caPem], servername: 'stb-proxy.example.net' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'not for a name it does not carry');
  await t.rejects(verifiedPost(port, {}), { code: /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT/ }, 'nor for a client that does not trust the builtin CA');
});

t.test('endpointNames: loopback always, the listen address when it is a specific IP', async (t) => {
  t.same(endpointNames({ host: '0.0.0.0', port: 7548 }), { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] });
  t.same(endpointNames({ host: '::', port: 7548 }), { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] });
  t.same(endpointNames({ host: '127.0.0.1', port: 0 }), { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] });
  t.same(endpointNames({ host: 'localhost', port: 0 }), { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1'] });
  t.same(endpointNames({ host: '192.0.2.10', port: 7548 }), { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1', '192.0.2.10'] });
  t.same(endpointNames({ host: '2001:db8::7', port: 7548 }), { dnsNames: ['localhost'], ips: ['127.0.0.1', '::1', '2001:db8::7'] });
});

t.test('a stored server certificate is kept while it serves the names; another listen address or the old client profile gets a new generation', async (t) => {
  const dir = t.testdir();
  const db = openDatabase(join(dir, 'stbd.db'), { synchronous: 'normal', busyTimeoutMs: 1000 });
  t.teardown(() => db.close());
  const pool = new SigningPool({ size: 1 });
  t.teardown(() => pool.close());
  const box = new SealedBox(Buffer.alloc(32, 5));
  const clock = new ManualClock(Date.parse('2026-11-21T00:00:00Z'));
  const repo = new SqliteCaRepo(db);
  const ca = await BuiltinCa.open(repo, box, clock, pool);
  const deps = { repo, box, clock, openCa: async () => ca, endpoint: CERTS_ENDPOINT };

  // What an earlier stbd stored: the end-entity (client) profile, no subjectAltName.
  const legacy = await ca.issue(SERVER_COMMON_NAME, new Date(clock.now()), new Date(clock.now() + 10 * YEAR));
  await repo.insert('certs-endpoint.1', { certPem: legacy.certPem, keySealed: box.seal(Buffer.from(legacy.privateKeyPem), 'ca|certs-endpoint.1') }, clock.now());

  const loopback = endpointNames({ host: '0.0.0.0', port: 7548 });
  const first = await builtinServerTls({ ...deps, names: loopback });
  t.not(first.cert, legacy.certPem, 'the client-profile certificate is not served');
  t.equal(first.cert, (await repo.get('certs-endpoint.2'))?.certPem, 'a second generation replaces it');
  t.same(new X509Certificate(first.cert).keyUsage, [SERVER_AUTH]);
  t.ok(new X509Certificate(first.cert).checkPrivateKey(createPrivateKey(first.key)), 'with its key');

  const again = await builtinServerTls({ ...deps, names: loopback });
  t.equal(again.cert, first.cert, 'the same names: the same certificate');

  const specific = endpointNames({ host: '192.0.2.10', port: 7548 });
  const moved = await builtinServerTls({ ...deps, names: specific });
  t.not(moved.cert, first.cert, 'a listen address it does not carry: a new generation');
  t.equal(new X509Certificate(moved.cert).checkIP('192.0.2.10'), '192.0.2.10');
  t.equal(moved.cert, (await repo.get('certs-endpoint.3'))?.certPem);
  t.equal((await builtinServerTls({ ...deps, names: specific })).cert, moved.cert, 'and that one is kept');
  t.equal((await builtinServerTls({ ...deps, names: loopback })).cert, first.cert, 'back to the wildcard address: generation 2 serves it again');
});

t.test('an stbd upgraded over a client-profile server certificate presents a verifiable one', async (t) => {
  const dir = t.testdir();
  // The state an earlier stbd left: its CA, and the endpoint certificate with the client profile.
  const db = openDatabase(join(dir, 'stbd.db'), { synchronous: 'normal', busyTimeoutMs: 1000 });
  const box = new SealedBox(loadMasterKey(join(dir, 'master.key'), true));
  const clock = new ManualClock();
  const ca = await BuiltinCa.open(new SqliteCaRepo(db), box, clock);
  const legacy = await ca.issue(SERVER_COMMON_NAME, new Date(clock.now()), new Date(clock.now() + 10 * YEAR));
  new SqliteCaRepo(db).insert('certs-endpoint.1', { certPem: legacy.certPem, keySealed: box.seal(Buffer.from(legacy.privateKeyPem), 'ca|certs-endpoint.1') }, clock.now());
  db.close();

  const d = await startInProcess(dir);
  t.teardown(() => d.daemon.stop());
  const r = await verifiedPost(d.daemon.certsEndpoint.port, { ca: [ca.certPem] });
  t.equal(r.status, 400);
  t.not(r.peer.fingerprint256, new X509Certificate(legacy.certPem).fingerprint256);
  t.equal(r.peer.fingerprint256, new X509Certificate(storedPem(dir, 'certs-endpoint.2')!).fingerprint256);
});
