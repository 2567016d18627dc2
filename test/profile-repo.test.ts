import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { SealedBox } from '../src/ca/sealed-box.js';
import { parseSelector } from '../src/devices/selector/parser.js';
import { evaluate, sameValue } from '../src/profiles/desired.js';
import type { ProfileStatus } from '../src/profiles/profile.js';
import { parseProfile } from '../src/profiles/profile-file.js';
import type { ProfileRepo } from '../src/profiles/profile-repo.js';
import { PgProfileRepo } from '../src/profiles/pg-profile-repo.js';
import { type DeviceFacts, matchInMemory } from '../src/profiles/selector-match.js';
import { SqliteProfileRepo } from '../src/profiles/sqlite-profile-repo.js';
import { renderTemplate, templateProblem } from '../src/profiles/templates.js';
import { createLogger } from '../src/log/logger.js';
import { CATALOG_CHECK_MS, ProfileCatalog } from '../src/profiles/profile-catalog.js';
import { openDatabase } from '../src/store/database.js';
import { DeadlineRepo } from '../src/store/deadline-repo.js';
import { Scheduler } from '../src/timer/scheduler.js';
import { engines, type Store } from './helpers/engines.js';
import { ManualClock, ManualTimers } from './helpers/in-process.js';

const box = new SealedBox(Buffer.alloc(32, 7));
const repoOf = (s: Store): ProfileRepo => (s.engine === 'sqlite' ? new SqliteProfileRepo(s.db, box) : new PgProfileRepo(s.pool, box));

async function addDevices(s: Store, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await s.query("INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, cr_generated) VALUES ($1, $2, 'x', $3, 'x', $4, 'x', 1, 1, 0)", [id, `s-${id}`, id, `w-${id}`]);
  }
}

const FILE = `
name = "stb4k-defaults"
selector = "productClass = 'STB-4K' AND softwareVersion >= '3.0'"
priority = 10
events = ["0 BOOTSTRAP", "1 BOOT"]
[values]
"Device.Time.NTPServer1" = "ntp.example.net"
"Device.X_VENDOR.Portal.URL" = "https://portal.example.net/{serialNumber}"
"Device.X_VENDOR.Enable" = true
"Device.X_VENDOR.Port" = 8080
"Device.X_VENDOR.Offset" = -3
[types]
"Device.X_VENDOR.Port" = "unsignedLong"
[notifications]
"Device.DeviceInfo.SoftwareVersion" = "active"
`;

t.test('profile files: the format of the issue, typed values, and a clear message for each mistake', async (t) => {
  const p = parseProfile(FILE);
  t.match(p, { name: 'stb4k-defaults', priority: 10, events: ['0 BOOTSTRAP', '1 BOOT'], notifications: [{ name: 'Device.DeviceInfo.SoftwareVersion', notification: 'active' }] });
  t.same(p.values.map((v) => [v.name, v.template, v.type]), [
    ['Device.Time.NTPServer1', 'ntp.example.net', 'xsd:string'],
    ['Device.X_VENDOR.Portal.URL', 'https://portal.example.net/{serialNumber}', 'xsd:string'],
    ['Device.X_VENDOR.Enable', 'true', 'xsd:boolean'],
    ['Device.X_VENDOR.Port', '8080', 'xsd:unsignedLong'],
    ['Device.X_VENDOR.Offset', '-3', 'xsd:int'],
  ]);
  t.equal(parseProfile(FILE).revision, p.revision, 'the same file, the same revision');
  t.not(parseProfile(FILE.replace('ntp.example.net', 'ntp2')).revision, p.revision);
  const refused = (text: string) => t.throws(() => parseProfile(text), { name: 'ProfileFileError' }) as unknown;
  const message = (text: string) => {
    try {
      parseProfile(text);
      return 'accepted';
    } catch (err) {
      return (err as Error).message;
    }
  };
  refused('name = "x"\n');
  t.equal(message('name = "x"\n'), 'the profile sets nothing: expected [values] or [notifications]');
  t.equal(message('name = "Bad Name"\n[values]\n"Device.A" = "1"'), 'name: expected 1 to 63 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit');
  t.equal(message('name = "periodic-inform"\n[values]\n"Device.A" = "1"'), 'name: "periodic-inform" is the built-in periodic Inform profile\'s');
  t.equal(message('name = "x"\nselector = "productClass = "\n[values]\n"Device.A" = "1"'), 'selector: column 16: expected a value after \'=\'');
  t.equal(message('name = "x"\n[values]\n"Device.A." = "1"'), '[values] "Device.A.": expected a full parameter path under Device. or InternetGatewayDevice. (not a partial path)');
  t.equal(message('name = "x"\n[values]\n"Device.A" = 1.5'), '[values] "Device.A": a number must be whole (write decimals as a string)');
  t.equal(message('name = "x"\n[values]\n"Device.A" = "{param:Nope}"'), '[values] "Device.A": unknown placeholder {param:Nope} at character 1 (expected {id}, {serialNumber}, {secret} or {param:Full.Parameter.Path})');
  t.equal(message('name = "x"\n[notifications]\n"Device.A" = "loud"'), '[notifications] "Device.A": expected "active", "passive" or "off"');
  t.equal(message('name = "x"\nevents = ["BOOT"]\n[values]\n"Device.A" = "1"'), 'events: expected a non-empty list of Inform event codes such as "0 BOOTSTRAP", "1 BOOT", "2 PERIODIC", "4 VALUE CHANGE" (leave it out for every Inform)');
  t.equal(message('name = "x"\ncolour = "red"\n[values]\n"Device.A" = "1"'), 'unknown key "colour" (expected name, selector, priority, events, values, types, notifications)');
  t.match(message('name = "x"\n[values\n'), /^not valid TOML: line 2, column \d+: /);
  t.equal(message('name = "x"\n[values]\n"Device.A" = "1"\n[types]\n"Device.B" = "int"'), '[types] "Device.B": no such parameter in [values]');
});

t.test('templates', async (t) => {
  const facts = { id: 'stb-1', serialNumber: 'SN1', secret: 's3cr3t', param: (p: string) => (p === 'Device.X.Y' ? 'why' : undefined) };
  t.equal(renderTemplate('{id}/{serialNumber}/{secret}/{param:Device.X.Y}/{{literal}}', facts), 'stb-1/SN1/s3cr3t/why/{literal}');
  t.equal(renderTemplate('{param:Device.X.Z}', facts), undefined, 'unknown until fetched');
  t.equal(templateProblem('a } b'), 'unmatched "}" at character 3 (write {{ or }} for a brace)');
});

t.test('evaluation: the higher priority wins per parameter; only differences; booleans and times compared as such', async (t) => {
  const high = parseProfile('name = "high"\npriority = 10\n[values]\n"Device.A" = "1"\n"Device.B" = true');
  const low = parseProfile('name = "low"\n[values]\n"Device.A" = "2"\n"Device.C" = "c"\n"InternetGatewayDevice.D" = "d"');
  const known = new Map([['Device.A', '0'], ['Device.B', '1']]);
  const e = evaluate({ profiles: [low, high], root: 'Device.', facts: { id: 'd', serialNumber: 's', secret: undefined }, known: (n) => known.get(n), renewed: new Set(), active: new Set(['high', 'low']) });
  t.same(e.differences, [{ name: 'Device.A', value: '1', type: 'xsd:string' }], "B is true already ('1'); A is high's");
  t.same(e.unknown, ['Device.C'], 'C is to be read first; D is not of this data model');
  t.same([...e.setting], ['high']);
  const secret = parseProfile('name = "s"\n[values]\n"Device.X.Password" = "{secret}"\n"Device.X.User" = "{id}"');
  const once = (renewed: boolean) => evaluate({ profiles: [secret], root: 'Device.', facts: { id: 'd', serialNumber: 's', secret: 'p4ss' }, known: (n) => (n === 'Device.X.User' ? 'd' : undefined), renewed: new Set(renewed ? ['s'] : []), active: new Set(['s']) });
  t.same(once(true).differences, [{ name: 'Device.X.Password', value: 'p4ss', type: 'xsd:string' }], 'a secret parameter (never stored) is sent when the profile is renewed');
  t.same([once(false).differences, once(false).unknown], [[], []], 'and otherwise neither sent nor read');
  t.ok(sameValue('xsd:dateTime', '1970-01-01T00:10:00Z', '1970-01-01T00:10:00.000Z'));
  t.notOk(sameValue('xsd:string', 'True', 'true'));
});

t.test('selectors in memory decide as the store does, or say they cannot', async (t) => {
  const facts: DeviceFacts = { id: 'stb-1', oui: '00D09E', productClass: 'STB-4K', serialNumber: 'SN1', natId: null, behindNat: false, online: true, lastInform: 1_000_000, param: (p) => (p === 'Device.X' ? '42' : undefined), softwareVersion: '3.9.2', hardwareVersion: undefined };
  const m = (s: string) => matchInMemory(parseSelector(s), facts, 2_000_000);
  t.equal(m("productClass = 'STB-4K' AND softwareVersion < '3.10'"), true);
  t.equal(m("softwareVersion >= '3.10'"), false);
  t.equal(m("natId = 'x'"), false, 'absent: false');
  t.equal(m("natId != 'x'"), true, 'and NOT of it true');
  t.equal(m("tag = 'pilot'"), undefined, 'tags: the store decides');
  t.equal(m("tag = 'pilot' AND productClass = 'other'"), false, 'unless the rest decides');
  t.equal(m("param('Device.X') > 40"), true);
  t.equal(m("param('Device.Y') = 'a'"), undefined, 'not in the Inform');
  t.equal(m("serialNumber LIKE 'SN*' AND online"), true);
  t.equal(m("id LIKE 'stb-?'"), true, 'characters that mean something in a RegExp are themselves');
  t.equal(m("id LIKE 'stb.1'"), false);
  t.equal(m("id LIKE '*(x)[y]{z}|+^$\\\\*'"), false);
  t.equal(m("id IN ('a', 'stb-1')"), true);
  t.equal(m('lastInform < now() - 1s'), true);
  t.equal(m('lastInform > now() - 1s'), false);
  t.equal(m("hardwareVersion = 'x'"), undefined);
});

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('profiles: put replaces, remove forgets statuses, every change moves the catalog version', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await addDevices(s, ['d1', 'd2']);
      t.equal(await repo.version(), 0);
      t.equal(await repo.put({ name: 'a', source: 'A1', revision: 'r1' }, 1000), false);
      t.equal(await repo.put({ name: 'a', source: 'A2', revision: 'r2' }, 2000), true, 'same name: replaced');
      t.equal(await repo.put({ name: 'b', source: 'B', revision: 'rb' }, 3000), false);
      t.equal(await repo.version(), 3);
      t.match(await repo.get('a'), { name: 'a', source: 'A2', revision: 'r2', createdAt: 1000, updatedAt: 2000 });
      t.same((await repo.all()).map((p) => p.name), ['a', 'b']);
      const row = (deviceId: string, profile: string, state: ProfileStatus['state'], taskId: number | null = null): ProfileStatus => ({ deviceId, profile, revision: 'r2', state, taskId, attributesTaskId: null, fault: state === 'fault' ? { code: 9007, message: 'bad value', details: [{ parameter: 'Device.A', code: 9007, message: 'no' }], task: 5 } : null, updatedAt: 10 });
      await repo.setStatuses([row('d1', 'a', 'compliant'), row('d2', 'a', 'fault'), row('d1', 'b', 'pending', 7)]);
      t.same(await repo.counts('a'), { compliant: 1, pending: 0, fault: 1 });
      t.same((await repo.faults('a', '', 10)).map((f) => [f.deviceId, f.fault]), [['d2', { code: 9007, message: 'bad value', details: [{ parameter: 'Device.A', code: 9007, message: 'no' }], task: 5 }]]);
      t.same((await repo.ofTask('d1', 7)).map((r) => r.profile), ['b']);
      await repo.setStatuses([row('d2', 'a', 'compliant')]);
      t.same(await repo.counts('a'), { compliant: 2, pending: 0, fault: 0 }, 'one row per device and profile');
      t.equal(await repo.remove('a'), true);
      t.equal(await repo.remove('a'), false);
      t.same(await repo.counts('a'), { compliant: 0, pending: 0, fault: 0 }, 'its statuses went with it');
      t.equal(await repo.version(), 4);
      await repo.dropStatuses('d1', ['b']);
      t.same(await repo.counts('b'), { compliant: 0, pending: 0, fault: 0 });
    });

    t.test('context: statuses and the named last known values in one read; the secret is generated once and stored sealed', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await addDevices(s, ['d1']);
      await s.query("INSERT INTO cwmp_devices (device_id, manufacturer, oui, product_class, serial_number, data_model, cwmp_version, last_inform_at, last_events, source_address, behind_nat) VALUES ('d1', 'm', 'o', 'p', 's', 'Device.', '1.0', 1, '[]', '127.0.0.1', 0)");
      await s.query("INSERT INTO device_parameters (device_id, name, value, type, updated_at) VALUES ('d1', 'Device.A', 'a', 'xsd:string', 1), ('d1', 'Device.B', 'b', 'xsd:string', 1)");
      const ctx = await repo.context('d1', ['Device.A', 'Device.Z']);
      t.same([...ctx.values], [['Device.A', 'a']]);
      t.same(ctx.statuses, []);
      const first = await repo.secret('d1', () => 'generated-1');
      t.equal(first, 'generated-1');
      t.equal(await repo.secret('d1', () => 'generated-2'), 'generated-1', 'the same secret from then on');
      const stored = await s.query("SELECT sealed FROM profile_secrets WHERE device_id = 'd1'");
      t.notMatch(JSON.stringify(stored), /generated-1/, 'sealed at rest');
      await t.rejects(repo.secret('ghost', () => 'x'), /not registered/);
    });
  });
}

t.test('catalogs on one store: a profile added through one reaches the other at its next version check (several stbd on one database)', async (t) => {
  const path = join(t.testdir(), 'stbd.db');
  const clock = new ManualClock(0);
  const log = createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }));
  const catalog = async () => {
    const db = openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000 });
    t.teardown(() => db.close());
    const host = new ManualTimers();
    const scheduler = new Scheduler({ clock, store: new DeadlineRepo(db), host, tickMs: 1000, slots: 64, onError: () => undefined });
    await scheduler.start();
    t.teardown(() => scheduler.stop());
    const c = new ProfileCatalog({ repo: new SqliteProfileRepo(db, box), scheduler, clock, log });
    await c.start();
    t.teardown(() => c.stop());
    return { c, host };
  };
  const a = await catalog();
  const b = await catalog();
  await a.c.add('name = "x"\n[values]\n"Device.A" = "1"\n');
  t.same(a.c.profiles.map((p) => p.name), ['x'], 'at once where it was added');
  t.same(b.c.profiles, [], 'not yet in the other process');
  clock.advance(CATALOG_CHECK_MS);
  b.host.fire();
  await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 500 && b.c.profiles.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(b.c.profiles.map((p) => p.name), ['x'], 'after its version check');
  await t.rejects(a.c.add('name = "x"\n'), { name: 'ProfileError', code: 'invalid' });
});
