import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { BuiltinCa } from '../src/ca/builtin-ca.js';
import { BuiltinCertAuthority } from '../src/ca/builtin-cert-authority.js';
import { SqliteCaRepo } from '../src/ca/ca-repo.js';
import { SealedBox } from '../src/ca/sealed-box.js';
import { runSigningJob } from '../src/ca/signing-job.js';
import { defaultPoolSize, inlineSigner, SigningError, SigningPool } from '../src/ca/signing-pool.js';
import { buildCertificate, newKeyPairSync, newSerial } from '../src/ca/x509.js';
import { openDatabase } from '../src/store/database.js';
import { ROOT } from './helpers/daemon.js';
import { ManualClock } from './helpers/in-process.js';

const DAY = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const now = new Date('2026-11-21T00:00:00Z');
const request = (commonName: string, more: { isCa?: boolean; server?: { dnsNames: string[]; ips: string[] } } = {}) => ({ commonName, serial: newSerial(), notBefore: now, notAfter: new Date(now.getTime() + DAY), isCa: false, ...more });

t.test('the pool makes keys and signs on worker threads: CA, client and server profiles', async (t) => {
  const pool = new SigningPool({ size: 2 });
  t.teardown(() => pool.close());
  t.equal(pool.workers, 0, 'no worker before the first job');
  const root = await pool.issue(request('pool test CA', { isCa: true }));
  const rootX = new X509Certificate(root.certPem);
  t.ok(rootX.ca, 'a CA certificate');
  t.ok(rootX.verify(rootX.publicKey), 'self-signed');
  t.ok(rootX.checkPrivateKey(createPrivateKey(root.privateKeyPem)), 'with its key');

  const issuer = { certPem: root.certPem, privateKeyPem: root.privateKeyPem };
  const elu0 = performance.eventLoopUtilization();
  const jobs = Array.from({ length: 5 }, (_, i) => pool.issue(request(`stb-${i}`), issuer));
  t.equal(pool.workers, 2, 'at most `size` workers');
  t.equal(pool.queued, 3, 'the rest wait in the queue');
  const client = await Promise.all(jobs);
  const elu = performance.eventLoopUtilization(elu0);
  t.ok(elu.utilization < 0.5, `the event loop stayed mostly idle while 5 certificates were made (utilization ${elu.utilization.toFixed(2)})`);
  for (const [i, c] of client.entries()) {
    const x = new X509Certificate(c.certPem);
    t.equal(x.subject, `CN=stb-${i}`);
    t.ok(x.verify(rootX.publicKey), 'signed by the CA');
    t.same(x.keyUsage, [CLIENT_AUTH], 'client profile');
    t.equal(x.subjectAltName, undefined);
  }
  t.equal(new Set(client.map((c) => c.privateKeyPem)).size, 5, 'a fresh key each time');

  const server = await pool.issue(request('endpoint', { server: { dnsNames: ['localhost', 'stb-proxy.example.net'], ips: ['127.0.0.1', '::1', '192.0.2.7'] } }), issuer);
  const sx = new X509Certificate(server.certPem);
  t.same(sx.keyUsage, [SERVER_AUTH], 'server profile');
  t.equal(sx.checkHost('stb-proxy.example.net'), 'stb-proxy.example.net');
  t.equal(sx.checkIP('192.0.2.7'), '192.0.2.7');
  t.equal(sx.checkIP('::1'), '::1');
  t.equal(sx.checkIP('192.0.2.8'), undefined);

  await t.rejects(pool.issue(request('bad', { server: { dnsNames: [], ips: ['not-an-ip'] } }), issuer), { message: /not an IP address/ }, 'a job that fails rejects, the worker lives on');
  await t.rejects(pool.issue(request('bad', { server: { dnsNames: [], ips: [] } }), issuer), { message: /at least one DNS name or IP/ });
  await t.rejects(pool.issue({ ...request('x'), commonName: (() => 1) as unknown as string }), { name: 'DataCloneError' }, 'a request that cannot be sent to a worker');
  t.match((await pool.issue(request('after'), issuer)).certPem, /BEGIN CERTIFICATE/);
  t.ok(pool.workers <= 2);
});

t.test('close fails queued and running jobs, terminates the workers, refuses new jobs', async (t) => {
  const pool = new SigningPool({ size: 1 });
  const jobs = [pool.issue(request('a')), pool.issue(request('b'))].map((j) => j.then(() => 'issued', (err: Error) => err));
  t.equal(pool.workers, 1);
  await pool.close();
  t.equal(pool.workers, 0);
  for (const j of await Promise.all(jobs)) t.match(j, { name: 'SigningError', message: 'the signing pool is closed' }, 'the running and the queued job fail');
  await t.rejects(pool.issue(request('c')), SigningError);
  t.throws(() => new SigningPool({ size: 0 }), RangeError);
  const size = defaultPoolSize();
  t.ok(size >= 1 && size <= 4, `default size ${size}`);
});

t.test('workers run at the lowest CPU priority: nice 19 and SCHED_IDLE (Linux, with chrt)', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  /** nice and scheduling policy of this process's threads that are not at the defaults. */
  const lowered = () =>
    readdirSync('/proc/self/task').flatMap((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return f[16] !== '0' || f[38] !== '0' ? [{ nice: Number(f[16]), policy: Number(f[38]) }] : [];
    });
  const before = lowered().length;
  const pool = new SigningPool({ size: 1 });
  await pool.issue(request('priority'));
  const threads = lowered();
  t.equal(threads.length, before + 1, 'one thread more, the worker; the event loop keeps its priority');
  t.equal(threads.at(-1)?.nice, 19);
  const chrt = spawnSync('chrt', ['--help'], { stdio: 'ignore' }).status === 0;
  if (chrt) t.equal(threads.at(-1)?.policy, 5, 'SCHED_IDLE');
  await pool.close();
  const plain = new SigningPool({ size: 1, background: false });
  await plain.issue(request('normal'));
  t.equal(lowered().length, before, 'background: false leaves the worker at the default priority');
  await plain.close();
});

t.test('idle workers do not keep a process alive (the built module, as the daemon loads it)', async (t) => {
  const script = `
    const { SigningPool } = await import(${JSON.stringify(join(ROOT, 'dist/ca/signing-pool.js'))});
    const pool = new SigningPool({ size: 1 });
    const now = new Date();
    const c = await pool.issue({ commonName: 'x', serial: '01', notBefore: now, notAfter: new Date(now.getTime() + 1000), isCa: false });
    console.log(c.certPem.startsWith('-----BEGIN CERTIFICATE-----') && pool.workers === 1 ? 'issued' : 'wrong');`;
  const file = join(t.testdir(), 'issue-once.mjs');
  writeFileSync(file, script);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [file], { env, encoding: 'utf8', timeout: 30_000 });
  t.equal(r.stdout.trim(), 'issued', r.stderr);
  t.equal(r.status, 0, 'the process exited by itself, without close()');
});

t.test('runSigningJob: the work a worker does, on the calling thread; the issuer is parsed once', async (t) => {
  const keys = newKeyPairSync();
  const caPem = buildCertificate({ ...request('job CA', { isCa: true }), publicKeyPem: keys.publicKeyPem }, { privateKeyPem: keys.privateKeyPem });
  const issuer = { certPem: caPem, privateKeyPem: keys.privateKeyPem };
  const cache: Parameters<typeof runSigningJob>[1] = {};
  const a = runSigningJob({ request: request('one'), issuer }, cache);
  const parsed = cache.issuer;
  const b = runSigningJob({ request: request('two'), issuer: { ...issuer } }, cache);
  t.ok(a.ok && b.ok);
  t.equal(cache.issuer, parsed, 'the same issuer (equal PEM) is not parsed again');
  if (a.ok) t.ok(new X509Certificate(a.certPem).verify(new X509Certificate(caPem).publicKey));
  t.match(runSigningJob({ request: request('bad', { server: { dnsNames: [], ips: ['x'] } }), issuer }, cache), { ok: false, message: /not an IP address/ });
  const inline = await inlineSigner.issue(request('inline'));
  t.ok(new X509Certificate(inline.certPem).verify(new X509Certificate(inline.certPem).publicKey), 'the inline signer self-signs without an issuer');
});

t.test('the builtin CA signs through its pool; a closed pool is a retryable CA failure', async (t) => {
  const db = openDatabase(join(t.testdir(), 'stbd.db'), { synchronous: 'normal', busyTimeoutMs: 1000 });
  t.teardown(() => db.close());
  const pool = new SigningPool({ size: 1 });
  const box = new SealedBox(Buffer.alloc(32, 3));
  const ca = await BuiltinCa.open(new SqliteCaRepo(db), box, new ManualClock(now.getTime()), pool);
  t.equal(pool.workers, 1, 'the CA itself was made on the pool');
  const server = await ca.issue('stbd certificate proxy', now, new Date(now.getTime() + DAY), { dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  t.ok(ca.signed(server.certPem));
  t.same(new X509Certificate(server.certPem).keyUsage, [SERVER_AUTH]);
  const authority = new BuiltinCertAuthority(async () => ca);
  const issued = await authority.issue({ certificateId: 'c1', deviceId: 'stb-1', version: 1, notBefore: now, notAfter: new Date(now.getTime() + DAY) });
  t.equal(new X509Certificate(issued.certPem).subject, 'CN=stb-1');
  await pool.close();
  await t.rejects(authority.issue({ certificateId: 'c2', deviceId: 'stb-1', version: 1, notBefore: now, notAfter: new Date(now.getTime() + DAY) }), { name: 'CaError', retryable: true, message: /closed/ });
  const broken = new BuiltinCertAuthority(async () => {
    throw new Error('no CA');
  });
  await t.rejects(broken.issue({ certificateId: 'c3', deviceId: 'stb-1', version: 1, notBefore: now, notAfter: now }), { message: 'no CA' }, 'other errors pass through');
});
