import t from 'tap';
import type { CertRepo, NewVersion } from '../src/certs/cert-repo.js';
import { EXPIRY, RENEW } from '../src/certs/cert-rules.js';
import { PgCertRepo } from '../src/certs/pg-cert-repo.js';
import { SqliteCertRepo } from '../src/certs/sqlite-cert-repo.js';
import { engines, type Store } from './helpers/engines.js';

const DAY = 86_400_000;
const repoOf = (s: Store): CertRepo => (s.engine === 'sqlite' ? new SqliteCertRepo(s.db) : new PgCertRepo(s.pool, 'node-a'));

async function withDevices(s: Store, ...ids: string[]): Promise<Store> {
  // The node the PostgreSQL repo claims in the name of, alive: its claims are its own (cluster takeover has its own test).
  await s.query('INSERT INTO nodes (node_id, stun_address, incarnation, started_at, heartbeat_at, lease_until) VALUES ($1, $2, 1, 0, 0, $3) ON CONFLICT DO NOTHING', ['node-a', 'a:3478', 8e15]);
  for (const id of ids) {
    await s.query("INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES ($1, $2, 'AQID', 'cr', 'crp', $3, 'wp', 0, 0)", [id, `u-${id}`, `w-${id}`]);
  }
  return s;
}

/** Version `version` of certificate `id`, issued at `at` for a day, renewal due at half of it. */
const version = (id: string, deviceId: string, v: number, at: number, reason = v === 1 ? 'issue' : 'renewal'): NewVersion => ({
  id,
  deviceId,
  version: v,
  serial: `${id}-s${v}`,
  certPem: `PEM ${id} v${v}`,
  keySealed: Buffer.from(`key ${id} v${v}`),
  notBefore: at,
  notAfter: at + DAY,
  renewAt: at + DAY / 2,
  at,
  reason,
});

const deadlines = (s: Store, id: string) => s.query('SELECT kind, due_at FROM timer_deadlines WHERE key = $1 ORDER BY kind', [id]);
const claims = (s: Store) => s.query('SELECT id, device_id FROM certificate_claims ORDER BY id');
const tally = (results: string[]) => results.reduce<Record<string, number>>((n, r) => ({ ...n, [r]: (n[r] ?? 0) + 1 }), {});

/** Claims and stores version 1. */
async function issued(repo: CertRepo, id: string, deviceId: string, at = 1000): Promise<void> {
  if ((await repo.claim(id, deviceId, 100, at)) !== 'claimed') throw new Error(`claim of ${id} refused`);
  if (!(await repo.store(version(id, deviceId, 1, at)))) throw new Error(`store of ${id} refused`);
}

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('claims: one winner per id, the per-device cap (revoked not counted), given back, forgotten at start', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1', 'd2');
      const repo = repoOf(s);
      t.equal(await repo.claim('a', 'd1', 2, 1), 'claimed');
      t.equal(await repo.claim('a', 'd1', 2, 1), 'taken', 'the same id again');
      t.equal(await repo.claim('a', 'd2', 2, 1), 'taken', 'by another device');
      t.equal(await repo.claim('b', 'd1', 2, 1), 'claimed');
      t.equal(await repo.claim('c', 'd1', 2, 1), 'limit-reached', 'claims count in the cap');
      t.ok(await repo.store(version('a', 'd1', 1, 1)));
      t.equal(await repo.claim('a', 'd2', 2, 1), 'taken', 'an id a certificate has');
      t.equal(await repo.claim('c', 'd1', 2, 1), 'limit-reached', 'certificates count in the cap');
      await repo.revoke('a', 2);
      t.equal(await repo.claim('c', 'd1', 2, 3), 'claimed', 'a revoked certificate does not count');
      t.same(await claims(s), [{ id: 'b', device_id: 'd1' }, { id: 'c', device_id: 'd1' }]);
      await repo.unclaim('b', 'd2');
      t.equal((await claims(s)).length, 2, 'only the claiming device gives a claim back');
      await repo.unclaim('b', 'd1');
      t.same(await claims(s), [{ id: 'c', device_id: 'd1' }]);
      t.equal(await repo.claim('b', 'd2', 2, 4), 'claimed', 'a given-back id can be claimed again');
      await repo.unclaimAll(5);
      t.same(await claims(s), []);
    });

    t.test('20 concurrent claims of one id by one device: exactly one wins', async (t) => {
      const repo = repoOf(await withDevices(await engine.open(t), 'd1'));
      const results = await Promise.all(Array.from({ length: 20 }, () => repo.claim('media-d1', 'd1', 5, 1)));
      t.same(tally(results), { claimed: 1, taken: 19 });
    });

    t.test('20 concurrent claims of other ids by one device: the cap holds', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1');
      const repo = repoOf(s);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => repo.claim(`c${i}`, 'd1', 3, 1)));
      t.same(tally(results), { claimed: 3, 'limit-reached': 17 });
      t.equal((await claims(s)).length, 3);
    });

    t.test('20 devices claiming one id at once: one wins', async (t) => {
      const devices = Array.from({ length: 20 }, (_, i) => `d${i}`);
      const s = await withDevices(await engine.open(t), ...devices);
      const repo = repoOf(s);
      const results = await Promise.all(devices.map((d) => repo.claim('shared', d, 5, 1)));
      t.same(tally(results), { claimed: 1, taken: 19 });
      t.equal((await claims(s)).length, 1);
    });

    t.test('while the first store swaps the claim for the certificate, no other claim of the id gets in', async (t) => {
      const devices = Array.from({ length: 20 }, (_, i) => `d${i}`);
      const s = await withDevices(await engine.open(t), ...devices);
      const repo = repoOf(s);
      // Rounds, so that claims land in the store's every step: before, during and after its transaction.
      for (let round = 0; round < 10; round++) {
        const id = `x${round}`;
        t.equal(await repo.claim(id, 'd0', 100, 1), 'claimed');
        const claimers = devices.slice(1).flatMap((d) => [repo.claim(id, d, 100, 1), repo.claim(id, d, 100, 1)]);
        const [stored, ...others] = await Promise.all([repo.store(version(id, 'd0', 1, 1)), ...claimers]);
        t.equal(stored, true);
        t.same(tally(others), { taken: 38 });
      }
      t.same(await claims(s), [], 'no claim of an id a certificate has');
    });

    t.test('store: version 1 only in place of its claim; the next versions, history and deadlines; a stale version refused', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1', 'd2');
      const repo = repoOf(s);
      t.equal(await repo.store(version('a', 'd1', 1, 1000)), false, 'no claim, no certificate');
      await repo.claim('a', 'd1', 5, 1000);
      t.equal(await repo.store(version('a', 'd2', 1, 1000)), false, 'not with another device’s claim');
      t.equal(await repo.store(version('a', 'd1', 1, 1000)), true);
      t.same(await claims(s), [], 'the claim became the certificate');
      t.match(await repo.get('a'), { id: 'a', deviceId: 'd1', version: 1, status: 'valid', serial: 'a-s1', certPem: 'PEM a v1', notBefore: 1000, notAfter: 1000 + DAY, renewAt: 1000 + DAY / 2, createdAt: 1000, updatedAt: 1000, noticeTask: null });
      t.same(await deadlines(s, 'a'), [{ kind: EXPIRY, due_at: 1000 + DAY }, { kind: RENEW, due_at: 1000 + DAY / 2 }], 'its deadlines are written with it');
      t.same(await repo.sealedKey('a', 1), Buffer.from('key a v1'));
      t.equal(await repo.sealedKey('a', 2), undefined);

      await repo.setNoticeTask('a', 1, 7, 2000);
      t.equal(await repo.store(version('a', 'd1', 2, 5000, 'fetch')), true);
      t.match(await repo.get('a'), { version: 2, status: 'valid', serial: 'a-s2', createdAt: 1000, updatedAt: 5000, noticeTask: null, notAfter: 5000 + DAY });
      t.same(await repo.sealedKey('a', 2), Buffer.from('key a v2'));
      t.equal(await repo.sealedKey('a', 1), undefined, 'only the current key is kept');
      t.same(await deadlines(s, 'a'), [{ kind: EXPIRY, due_at: 5000 + DAY }, { kind: RENEW, due_at: 5000 + DAY / 2 }], 'the deadlines moved');
      t.equal(await repo.store(version('a', 'd1', 2, 6000)), false, 'a version that does not follow the current one');
      t.equal(await repo.store(version('a', 'd1', 1, 6000)), false, 'nor a second version 1');
      t.same(
        (await repo.versions('a')).map((v) => [v.version, v.serial, v.certPem, v.notBefore, v.notAfter, v.issuedAt, v.reason]),
        [
          [1, 'a-s1', 'PEM a v1', 1000, 1000 + DAY, 1000, 'issue'],
          [2, 'a-s2', 'PEM a v2', 5000, 5000 + DAY, 5000, 'fetch'],
        ],
        'every version in the history, oldest first',
      );
      t.same(await repo.versions('nope'), []);
    });

    t.test('two stores of the same next version at once: one wins', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1');
      const repo = repoOf(s);
      await issued(repo, 'a', 'd1');
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => repo.store(version('a', 'd1', 2, 2000 + i))));
      t.equal(results.filter(Boolean).length, 1);
      t.same((await repo.versions('a')).map((v) => v.version), [1, 2]);
    });

    t.test('renewal due: valid → update-pending, again while pending, not when moved, expired or revoked; the notice task', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1');
      const repo = repoOf(s);
      await issued(repo, 'a', 'd1', 1000);
      const renewAt = 1000 + DAY / 2;
      t.equal(await repo.renewalDue('a', renewAt - 1, 10), undefined, 'a deadline older than the renewal (it moved)');
      t.match(await repo.get('a'), { status: 'valid' });
      t.match(await repo.renewalDue('a', renewAt, 20), { id: 'a', version: 1, status: 'update-pending', updatedAt: 20 });
      t.match(await repo.renewalDue('a', renewAt, 30), { status: 'update-pending', updatedAt: 20 }, 'a retry while pending notifies again');
      await repo.setNoticeTask('a', 1, 42, 40);
      t.match(await repo.get('a'), { noticeTask: 42, updatedAt: 40 });
      await repo.setNoticeTask('a', 2, 43, 50);
      t.match(await repo.get('a'), { noticeTask: 42 }, 'a notice of another version is not recorded');
      t.equal(await repo.renewalDue('nope', renewAt, 60), undefined);

      await issued(repo, 'b', 'd1', 1000);
      await repo.expiryDue('b', 1000 + DAY, 70);
      t.equal(await repo.renewalDue('b', renewAt, 80), undefined, 'expired');
      await issued(repo, 'c', 'd1', 1000);
      await repo.revoke('c', 90);
      t.equal(await repo.renewalDue('c', renewAt, 100), undefined, 'revoked');
    });

    t.test('a renewal retry moves the renewal deadline, unless the certificate is gone or revoked', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1');
      const repo = repoOf(s);
      await issued(repo, 'a', 'd1', 1000);
      t.equal(await repo.retryRenewal('a', 99_000), true);
      t.same(await deadlines(s, 'a'), [{ kind: EXPIRY, due_at: 1000 + DAY }, { kind: RENEW, due_at: 99_000 }]);
      await repo.revoke('a', 2000);
      t.equal(await repo.retryRenewal('a', 99_000), false);
      t.equal(await repo.retryRenewal('nope', 99_000), false);
      t.same(await s.query('SELECT * FROM timer_deadlines'), []);
    });

    t.test('expiry due: valid or update-pending → expired once, not before notAfter, not when revoked', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1');
      const repo = repoOf(s);
      await issued(repo, 'a', 'd1', 1000);
      await issued(repo, 'b', 'd1', 1000);
      await issued(repo, 'c', 'd1', 1000);
      const notAfter = 1000 + DAY;
      t.equal(await repo.expiryDue('a', notAfter - 1, 10), undefined, 'a deadline older than notAfter (renewed meanwhile)');
      t.same(await repo.expiryDue('a', notAfter, 20).then((e) => e && [e.was, e.record.status, e.record.updatedAt]), ['valid', 'expired', 20]);
      t.equal(await repo.expiryDue('a', notAfter, 30), undefined, 'once');
      await repo.renewalDue('b', notAfter, 40);
      t.same(await repo.expiryDue('b', notAfter, 50).then((e) => e?.was), 'update-pending', 'its STB never acknowledged');
      await repo.revoke('c', 60);
      t.equal(await repo.expiryDue('c', notAfter, 70), undefined);
      t.equal(await repo.expiryDue('nope', notAfter, 70), undefined);
      t.same(await repo.countsByStatus(), { expired: 2, revoked: 1 });
      t.ok(await repo.store(version('a', 'd1', 2, 2 * DAY, 'fetch')), 'an expired certificate is renewed');
      t.match(await repo.get('a'), { status: 'valid', version: 2 });
    });

    t.test('revoke: final, deadlines deleted, the CA’s next version refused; revokeDevice revokes the rest of a device', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1', 'd2');
      const repo = repoOf(s);
      for (const [id, d] of [['a', 'd1'], ['b', 'd1'], ['c', 'd1'], ['z', 'd2']] as const) await issued(repo, id, d);
      t.match(await repo.revoke('a', 2000), { id: 'a', status: 'revoked', updatedAt: 2000 });
      t.equal(await repo.revoke('a', 3000), undefined, 'already revoked');
      t.equal(await repo.revoke('nope', 3000), undefined);
      t.same(await deadlines(s, 'a'), []);
      t.equal(await repo.store(version('a', 'd1', 2, 4000)), false, 'a revocation is final');
      t.match(await repo.get('a'), { status: 'revoked', version: 1, updatedAt: 2000 });

      t.same((await repo.revokeDevice('d1', 5000)).map((r) => [r.id, r.status]).sort(), [['b', 'revoked'], ['c', 'revoked']], 'the ones it revoked');
      t.same(await repo.revokeDevice('d1', 6000), []);
      t.same(await s.query('SELECT key FROM timer_deadlines ORDER BY key, kind'), [{ key: 'z' }, { key: 'z' }], 'only the other device’s deadlines are left');
      t.same((await repo.ofDevice('d2')).map((r) => [r.id, r.status]), [['z', 'valid']]);
    });

    t.test('a revocation racing the next version: revoked either way, no deadline left', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1');
      const repo = repoOf(s);
      for (let i = 0; i < 10; i++) await issued(repo, `r${i}`, 'd1');
      await Promise.all(Array.from({ length: 10 }, (_, i) => [repo.store(version(`r${i}`, 'd1', 2, 2000)), repo.revoke(`r${i}`, 2000)]).flat());
      t.same(await repo.countsByStatus(), { revoked: 10 });
      t.same(await s.query('SELECT * FROM timer_deadlines'), []);
    });

    t.test('reads: get, pages in id order, a device’s certificates, counts by status', async (t) => {
      const s = await withDevices(await engine.open(t), 'd1', 'd2');
      const repo = repoOf(s);
      for (const [id, d] of [['c', 'd1'], ['a', 'd2'], ['b', 'd1'], ['d', 'd2']] as const) await issued(repo, id, d);
      await repo.revoke('d', 2000);
      t.equal(await repo.get('nope'), undefined);
      t.same((await repo.page('', 3)).map((r) => r.id), ['a', 'b', 'c']);
      t.same((await repo.page('c', 3)).map((r) => r.id), ['d']);
      t.same((await repo.ofDevice('d1')).map((r) => r.id), ['b', 'c']);
      t.same(await repo.ofDevice('nobody'), []);
      t.same(await repo.countsByStatus(), { valid: 3, revoked: 1 });
    });
  });
}
