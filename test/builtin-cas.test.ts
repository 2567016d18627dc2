import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { BuiltinCa } from '../src/ca/builtin-ca.js';
import { SqliteCaRepo } from '../src/ca/ca-repo.js';
import { SealedBox } from '../src/ca/sealed-box.js';
import { BuiltinCas, keyContext } from '../src/cas/builtin-cas.js';
import { SqliteCasCertificateRepo } from '../src/cas/cas-certificate-repo.js';
import { openDatabase } from '../src/store/database.js';
import { ManualClock } from './helpers/in-process.js';

const DAY = 86_400_000;

t.test('the builtin CA and CAS', async (t) => {
  const path = join(t.testdir(), 'stbd.db');
  const db = openDatabase(path, { synchronous: 'full', busyTimeoutMs: 1000 });
  t.teardown(() => db.close());
  const box = new SealedBox(Buffer.alloc(32, 9));
  const clock = new ManualClock(Date.parse('2026-11-21T00:00:00Z'));
  const ca = await BuiltinCa.open(new SqliteCaRepo(db), box, clock);
  const repo = new SqliteCasCertificateRepo(db);
  const cas = new BuiltinCas(repo, async () => ca, box, clock, 365 * DAY);

  t.test('the CA is created once and found again', async (t) => {
    const again = await BuiltinCa.open(new SqliteCaRepo(db), box, clock);
    t.equal(again.certPem, ca.certPem);
    const x = new X509Certificate(ca.certPem);
    t.ok(x.ca, 'a CA certificate');
    t.match(x.subject, /CN=stbd builtin CA/);
    await t.rejects(BuiltinCa.open(new SqliteCaRepo(db), new SealedBox(Buffer.alloc(32, 1)), clock), { name: 'SealError' }, 'another master key cannot open it');
  });

  t.test('register issues a certificate signed by the CA, once per idempotency key', async (t) => {
    const a = await cas.register('00259E-STB-1', 'register:00259E-STB-1:1');
    const b = await cas.register('00259E-STB-1', 'register:00259E-STB-1:1');
    t.same(a, b, 'a repeated registration changes nothing');
    const stored = (await repo.byId(a.certificateId))!;
    const x = new X509Certificate(stored.certPem);
    t.match(x.subject, /CN=00259E-STB-1/);
    t.ok(ca.signed(stored.certPem), 'signed by the builtin CA');
    t.equal(new Date(x.validTo).getTime() - new Date(x.validFrom).getTime(), 365 * DAY);
    const key = box.open(stored.keySealed, keyContext(a.certificateId, '00259E-STB-1')).toString();
    t.match(key, /^-----BEGIN PRIVATE KEY-----/);
    t.throws(() => box.open(stored.keySealed, keyContext(a.certificateId, 'another-stb')), { name: 'SealError' }, 'bound to its device');
    const racing = await Promise.all([cas.register('stb-2', 'register:stb-2:1'), cas.register('stb-2', 'register:stb-2:1')]);
    t.equal(racing[0].certificateId, racing[1].certificateId, 'two racing registrations with one key agree');
    const other = await cas.register('00259E-STB-1', 'register:00259E-STB-1:2');
    t.not(other.certificateId, a.certificateId, 'a new key is a new registration');
  });

  t.test('deregister revokes, idempotently', async (t) => {
    const { certificateId } = await cas.register('stb-3', 'register:stb-3:1');
    await cas.deregister('stb-3', certificateId, 'deregister:stb-3:1');
    const revokedAt = (await repo.byId(certificateId))!.revokedAt;
    t.equal(revokedAt, clock.now());
    clock.advance(1000);
    await cas.deregister('stb-3', certificateId, 'deregister:stb-3:1');
    t.equal((await repo.byId(certificateId))!.revokedAt, revokedAt, 'the second call changes nothing');
    await t.resolves(cas.deregister('stb-x', 'unknown', 'deregister:stb-x:1'));
  });

  t.test('no private key is stored in plaintext', async (t) => {
    db.pragma('wal_checkpoint(TRUNCATE)');
    const bytes = readFileSync(path);
    t.equal(bytes.indexOf('PRIVATE KEY'), -1, 'no PEM private-key header in the database file');
    const stored = (await repo.byIdempotencyKey('register:00259E-STB-1:1'))!;
    const der = box.open(stored.keySealed, keyContext(stored.certificateId, '00259E-STB-1')).toString().split('\n').slice(1, 3).join('');
    t.equal(bytes.indexOf(Buffer.from(der, 'base64').subarray(0, 32)), -1, 'nor the raw key bytes');
  });
});
