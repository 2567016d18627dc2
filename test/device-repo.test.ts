import t from 'tap';
import { SealedBox, SealError } from '../src/ca/sealed-box.js';
import type { CredentialRotation, DeviceRecord } from '../src/devices/device.js';
import { type DeviceRepo, DuplicateDeviceError } from '../src/devices/device-repo.js';
import { PgDeviceRepo } from '../src/devices/pg-device-repo.js';
import { SqliteDeviceRepo } from '../src/devices/sqlite-device-repo.js';
import { engines, type Store } from './helpers/engines.js';

const box = new SealedBox(Buffer.alloc(32, 3));
const repoOf = (s: Store, sealer = box): DeviceRepo => (s.engine === 'sqlite' ? new SqliteDeviceRepo(s.db, sealer) : new PgDeviceRepo(s.pool, sealer));

const device = (id: string, over: Partial<DeviceRecord['credentials']> = {}, at = 1000): DeviceRecord => ({
  id,
  credentials: { stunUsername: `stun-${id}`, stunPassword: `sp-${id}`, crUsername: `cr-${id}`, crPassword: `crp-${id}`, cwmpUsername: `cwmp-${id}`, cwmpPassword: `wp-${id}`, ...over },
  createdAt: at,
  updatedAt: at,
  credentialsPushedAt: null,
  crGenerated: true,
});
/** A record as plain data: a stored one's passwords are getters, opened when read. */
const plain = (d: DeviceRecord | undefined) => {
  if (!d) return d;
  const c = d.credentials;
  return { ...d, credentials: { stunUsername: c.stunUsername, stunPassword: c.stunPassword, crUsername: c.crUsername, crPassword: c.crPassword, cwmpUsername: c.cwmpUsername, cwmpPassword: c.cwmpPassword } };
};
const fieldOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof DuplicateDeviceError ? `${e.field}${e.index === undefined ? '' : `@${e.index}`}` : `unexpected: ${String(e)}`));

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('insert, get, byCwmpUsername, count, delete; passwords sealed at rest', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await repo.insert(device('d1'));
      await repo.insert({ ...device('d2'), crGenerated: false, credentialsPushedAt: 5 });
      t.same(plain(await repo.get('d1')), device('d1'));
      const login = await repo.byCwmpUsername('cwmp-d2');
      t.same(plain(login?.device), { ...device('d2'), crGenerated: false, credentialsPushedAt: 5 });
      t.equal(login?.rotation, undefined, 'no rotation pending');
      t.equal(await repo.get('nobody'), undefined);
      t.equal(await repo.byCwmpUsername('d1'), undefined, 'by the CWMP username, not the id');
      const [row] = await s.query('SELECT stun_password, cr_password, cwmp_password FROM devices WHERE id = $1', ['d1']);
      // The passwords themselves, not a bare 'd1' (two characters a random sealed value holds often enough to fail now and then).
      const stored = Object.values(row!).map(String);
      t.notOk(['sp-d1', 'crp-d1', 'wp-d1'].some((pw) => stored.some((v) => v.includes(pw) || v.includes(Buffer.from(pw).toString('base64')))), 'no password stored as it is');
      t.equal(await repo.count(), 2);
      t.equal(await repo.delete('d1'), true);
      t.equal(await repo.delete('d1'), false, 'gone already');
      t.equal(await repo.count(), 1);
    });

    t.test('logins read at once each find their own device (one statement for many on PostgreSQL)', async (t) => {
      const repo = repoOf(await engine.open(t));
      await repo.insertAll(Array.from({ length: 200 }, (_, i) => device(`d${i}`)));
      const asked = [...Array.from({ length: 200 }, (_, i) => `cwmp-d${199 - i}`), 'cwmp-d7', 'nobody', 'cwmp-d3', 'd5'];
      const found = await Promise.all(asked.map((u) => repo.byCwmpUsername(u)));
      t.same(
        found.map((l) => l?.device.id ?? null),
        asked.map((u) => (u.startsWith('cwmp-') ? u.slice(5) : null)),
        'every answer is the device of the username asked, or none; one asked twice gets it twice',
      );
    });

    t.test('a duplicate id, STUN or CWMP username is refused, naming the field (the id first)', async (t) => {
      const repo = repoOf(await engine.open(t));
      await repo.insert(device('d1'));
      t.equal(await fieldOf(repo.insert(device('d1', { stunUsername: 'other', cwmpUsername: 'other' }))), 'id');
      t.equal(await fieldOf(repo.insert(device('d1'))), 'id', 'every field clashes: the id is named');
      t.equal(await fieldOf(repo.insert(device('d2', { stunUsername: 'stun-d1' }))), 'stunUsername');
      t.equal(await fieldOf(repo.insert(device('d2', { cwmpUsername: 'cwmp-d1' }))), 'cwmpUsername');
      t.equal(await fieldOf(repo.insert(device('d2', { crUsername: 'cr-d1' }))), 'ok', 'connection-request usernames may repeat');
    });

    t.test('insertAll: every device or none, naming the first that clashes', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await repo.insert(device('old'));
      // More devices than one PostgreSQL statement of an import takes, so a clash in a later chunk rolls back the first.
      const many = Array.from({ length: 12_000 }, (_, i) => device(`n${i}`));
      t.equal(await fieldOf(repo.insertAll([...many, device('x', { cwmpUsername: 'cwmp-old' })])), 'cwmpUsername@12000', 'a clash with a stored device');
      t.equal(await repo.count(), 1, 'nothing of it stored');
      t.equal(await fieldOf(repo.insertAll([device('a'), device('b', { stunUsername: 'stun-a' }), device('old')])), 'stunUsername@1', 'a clash with an earlier row comes first when it is first');
      t.equal(await fieldOf(repo.insertAll([device('a'), device('a', { stunUsername: 's', cwmpUsername: 'c' })])), 'id@1');
      t.equal(await repo.count(), 1);
      await repo.insertAll(many);
      t.equal(await repo.count(), 12_001);
      t.same(plain(await repo.get('n11999')), device('n11999'));
      await repo.insertAll([]);
      t.equal(await repo.count(), 12_001, 'an empty import stores nothing');
    });

    t.test('keyset pages, and only devices seen since a time', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      for (const id of ['c', 'a', 'e', 'b', 'd']) await repo.insert(device(id));
      const ids = (ds: DeviceRecord[]) => ds.map((d) => d.id);
      t.same(ids(await repo.page(undefined, 2)), ['a', 'b']);
      t.same(ids(await repo.page('b', 2)), ['c', 'd']);
      t.same(ids(await repo.page('d', 2)), ['e']);
      t.same(ids(await repo.page('e', 2)), []);
      for (const [id, seen] of [['a', 100], ['c', 300], ['d', 200], ['e', 400]] as const) await s.query('INSERT INTO presence (device_id, last_seen) VALUES ($1, $2)', [id, seen]);
      t.same(ids(await repo.page(undefined, 10, 200)), ['c', 'd', 'e']);
      t.same(ids(await repo.page('c', 1, 200)), ['d']);
    });

    t.test('the master key check and the STUN password opener', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await repo.checkSealed();
      t.pass('no device: nothing to open');
      await repo.insert(device('d1'));
      await repo.checkSealed();
      await t.rejects(repoOf(s, new SealedBox(Buffer.alloc(32, 4))).checkSealed(), SealError, 'another key does not open them');
      const [row] = await s.query('SELECT stun_password FROM devices WHERE id = $1', ['d1']);
      const opener = repo.stunPasswordOpener();
      const sealed = Buffer.from(row!['stun_password'] as string, 'base64');
      t.equal(opener.open('d1', sealed).toString(), 'sp-d1');
      t.equal(sealed.length, 'sp-d1'.length + opener.overhead);
      t.throws(() => opener.open('d2', sealed), 'bound to its device');
    });

    t.test('credential rotation: start once, commit only what is pending', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await repo.insert(device('d1'));
      const rotation: CredentialRotation = { deviceId: 'd1', cwmpPassword: 'new-wp', crPassword: 'new-crp', interim: { kind: 'password', password: 'factory' }, createdAt: 2000 };
      t.equal(await repo.rotation('d1'), undefined);
      t.same(await repo.startRotation(rotation), rotation);
      t.same(await repo.startRotation({ ...rotation, cwmpPassword: 'other', interim: { kind: 'any' } }), rotation, 'a pending rotation is kept');
      t.same(await repo.rotation('d1'), rotation);
      t.same((await repo.byCwmpUsername(device('d1').credentials.cwmpUsername))?.rotation, rotation, "a login finds the device's rotation with it");
      t.equal(await repo.commitRotation('d1', 'other', 3000), undefined, 'not the pending password');
      const committed = await repo.commitRotation('d1', 'new-wp', 3000);
      t.same(plain(committed), { ...device('d1'), credentials: { ...device('d1').credentials, cwmpPassword: 'new-wp', crPassword: 'new-crp' }, updatedAt: 3000, credentialsPushedAt: 3000 });
      t.same(plain(await repo.get('d1')), plain(committed), 'stored');
      t.equal(await repo.rotation('d1'), undefined, 'and no longer pending');
      t.equal(await repo.commitRotation('d1', 'new-wp', 4000), undefined, 'committed once');
      const none = { ...rotation, interim: { kind: 'none' } } as const;
      t.same(await repo.startRotation(none), none);
    });

    if (engine.name === 'postgres') {
      t.test('concurrent inserts of one device: one wins, the others are duplicates', async (t) => {
        const repo = repoOf(await engine.open(t));
        const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => fieldOf(repo.insert(device('d1', { stunUsername: `s${i}`, cwmpUsername: `c${i}` })))));
        t.same(ids.sort(), [...Array(19).fill('id'), 'ok']);
        const stun = await Promise.all(Array.from({ length: 20 }, (_, i) => fieldOf(repo.insert(device(`e${i}`, { stunUsername: 'shared' })))));
        t.same(stun.sort(), ['ok', ...Array(19).fill('stunUsername')]);
        const imports = await Promise.all(Array.from({ length: 5 }, (_, i) => fieldOf(repo.insertAll([device(`f${i}`), device('common')]))));
        t.same(imports.sort(), ['id@1', 'id@1', 'id@1', 'id@1', 'ok'], 'of imports sharing a device, one is stored');
        t.equal(await repo.count(), 1 + 1 + 2);
      });

      t.test('concurrent commits of one rotation: one applies it', async (t) => {
        const repo = repoOf(await engine.open(t));
        await repo.insert(device('d1'));
        await repo.startRotation({ deviceId: 'd1', cwmpPassword: 'new', crPassword: 'newcr', interim: { kind: 'none' }, createdAt: 1 });
        const done = await Promise.all(Array.from({ length: 10 }, () => repo.commitRotation('d1', 'new', 2)));
        t.equal(done.filter((d) => d !== undefined).length, 1);
      });
    }
  });
}
