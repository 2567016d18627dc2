import t from 'tap';
import { SealedBox } from '../src/ca/sealed-box.js';
import { PgSelectionRepo } from '../src/devices/pg-selection-repo.js';
import { DeviceSelection } from '../src/devices/selection.js';
import type { SelectionRepo } from '../src/devices/selection-repo.js';
import { postgresLike, sqliteGlob } from '../src/devices/selector/glob.js';
import { MAX_SELECTOR_DEPTH, MAX_SELECTOR_LENGTH, MAX_SELECTOR_VALUES, parseSelector } from '../src/devices/selector/parser.js';
import { SelectorError } from '../src/devices/selector/selector-error.js';
import { compileCondition, joinsOf } from '../src/devices/selector/compile.js';
import { render, sql } from '../src/devices/selector/sql.js';
import { numberOf, versionKey } from '../src/devices/selector/version-key.js';
import { SqliteSelectionRepo } from '../src/devices/sqlite-selection-repo.js';
import { engines, type Store } from './helpers/engines.js';
import { insertRows } from './helpers/store-rows.js';

const errorOf = (text: string): string => {
  try {
    parseSelector(text);
    return 'parsed';
  } catch (err) {
    if (err instanceof SelectorError) return err.message;
    throw err;
  }
};

t.test('parser: mistakes are named with their column', async (t) => {
  const cases: [string, string][] = [
    ['softwareVersion <', "column 18: expected a value after '<'"],
    ["productClass = 'STB' AND softwareVersion < AND online", "column 44: expected a value after '<'"],
    ['', 'column 1: empty expression: give a condition such as online, tag = \'pilot\' or softwareVersion < \'3.2\''],
    ['   ', "column 4: empty expression: give a condition such as online, tag = 'pilot' or softwareVersion < '3.2'"],
    ["productClass = 'STB", 'column 16: unterminated string: no closing \''],
    ['productclass = 1', "column 1: unknown field 'productclass'; did you mean 'productClass'?"],
    ["model = 'x'", "column 1: unknown field 'model' (fields: id, tag, online, behindNat, natId, oui, productClass, serialNumber, softwareVersion, hardwareVersion, lastInform, lastSeen, param('Parameter.Name'))"],
    ['productClass = STB', "column 16: productClass compares with text: quote the value, as in 'STB'"],
    ['productClass = 12', "column 16: productClass compares with text: quote the value, as in '12'"],
    ["productClass 'STB'", "column 14: expected an operator (=, !=, <, <=, >, >=, IN, LIKE) after productClass, got 'STB'"],
    ["(online AND tag = 'a'", "column 22: expected ')' to close the '(' at column 1, got the end"],
    ["online)", "column 7: unexpected ')': no '(' is open"],
    ["online tag = 'a'", "column 8: expected AND, OR or the end of the expression, got 'tag'"],
    ['online AND', "column 11: expected a condition after 'AND'"],
    ['NOT', "column 4: expected a condition after 'NOT'"],
    ["online AND OR tag = 'x'", "column 12: expected a condition (a field such as productClass, tag, online or param('Device.X')), got 'OR'"],
    ["tag < 'b'", "column 5: tag takes =, !=, IN and LIKE (a device has a tag or not), not '<'"],
    ["tag = 'two words'", 'column 7: "two words" is not a valid tag: letters and digits, and . _ : - after the first character'],
    ['online < 3', 'column 8: online is true or false: write online, NOT online or online = false'],
    ['online = yes', "column 10: online is true or false, got 'yes'"],
    ['online =', "column 9: expected true or false after '='"],
    ['lastInform < 7d', "column 14: lastInform compares with a time: now(), now() - 7d, or a date such as '2026-01-31'"],
    ['lastInform < now() - 7', "column 22: expected a duration such as 7d, 12h, 30m, 90s after '-', got '7'"],
    ['lastInform < now() - 7x', "column 22: '7x' is neither a number nor a duration (a whole number and a unit: ms, s, m, h, d, w; quote text: '7x')"],
    ["lastInform < 'yesterday'", "column 14: 'yesterday' is not a date: write '2026-01-31' or '2026-01-31T12:00:00Z' (UTC unless a zone is given)"],
    ["lastInform IN ('2026-01-01')", 'column 12: lastInform takes =, !=, <, <=, > and >=, not IN'],
    ["lastSeen LIKE '2026*'", 'column 10: lastSeen takes =, !=, <, <=, > and >=, not LIKE'],
    ['oui LIKE STB', "column 10: expected a quoted pattern after LIKE, such as 'STB-*' (* any characters, ? one), got 'STB'"],
    ['oui IN ()', 'column 9: IN needs at least one value'],
    ["oui IN ('a' 'b')", "column 13: expected ',' or ')' in the IN list, got 'b'"],
    ["oui IN 'a'", "column 8: expected '(' after IN, as in IN ('a', 'b'), got 'a'"],
    ["oui NOT 'a'", "column 9: expected IN or LIKE after oui NOT, got 'a'"],
    ["param('Device.X') IN (1, 'a')", 'column 26: the values of one IN list are all numbers or all text'],
    ["param('Device.X.') = 'a'", "column 7: param() takes a full parameter name, not an object path ending in '.'"],
    ['param(Device.X) = 1', "column 7: param() takes a quoted parameter name, as in param('Device.DeviceInfo.ModelName'), got 'Device'"],
    ["param('Device.X') > 1.2.3", "column 21: '1.2.3' is not a number; quote text and versions: '1.2.3'"],
    ['softwareVersion = now()', 'column 19: softwareVersion is not a time; now() compares with lastInform and lastSeen'],
    ["id = 'a' ; DROP TABLE devices", "column 10: unexpected character ';'"],
    ["id ! 'a'", "column 4: unexpected '!' (not equal is !=; negation is NOT)"],
    // An injection attempt is a syntax error, not SQL: the quote opens a string that ends where it ends.
    ["id = '' OR 1=1 --'", "column 12: expected a condition (a field such as productClass, tag, online or param('Device.X')), got '1'"],
    ["id = 'é' AND é", "column 14: unexpected character 'é'"],
  ];
  for (const [text, message] of cases) t.equal(errorOf(text), message, text);
});

t.test('parser: limits on what one selector may ask', async (t) => {
  t.equal(errorOf(`id = '${'x'.repeat(MAX_SELECTOR_LENGTH)}'`), `column ${MAX_SELECTOR_LENGTH + 1}: the expression is longer than ${MAX_SELECTOR_LENGTH} characters`);
  const deep = `${'('.repeat(MAX_SELECTOR_DEPTH + 1)}online${')'.repeat(MAX_SELECTOR_DEPTH + 1)}`;
  t.equal(errorOf(deep), `column ${MAX_SELECTOR_DEPTH + 1}: nested too deeply (more than ${MAX_SELECTOR_DEPTH} levels of parentheses and NOT)`);
  t.equal(errorOf(`${'NOT '.repeat(MAX_SELECTOR_DEPTH)}online`), 'parsed', `${MAX_SELECTOR_DEPTH} levels are fine`);
  const many = `oui IN (${Array.from({ length: MAX_SELECTOR_VALUES + 1 }, () => "'a'").join(',')})`;
  t.match(errorOf(many), new RegExp(`^column \\d+: more than ${MAX_SELECTOR_VALUES} values in one expression$`));
});

t.test('parser: what conditions mean', async (t) => {
  t.same(parseSelector("productClass = 'STB-4K' AND softwareVersion >= '3.0'"), {
    kind: 'and',
    items: [
      { kind: 'compare', field: { kind: 'text', name: 'productClass' }, op: '=', value: { type: 'text', value: 'STB-4K' } },
      { kind: 'compare', field: { kind: 'version', name: 'softwareVersion' }, op: '>=', value: { type: 'text', value: '3.0' } },
    ],
  });
  t.same(parseSelector('online or tag = "x" and not behindNat'), {
    kind: 'or',
    items: [
      { kind: 'flag', name: 'online', value: true },
      { kind: 'and', items: [{ kind: 'compare', field: { kind: 'tag' }, op: '=', value: { type: 'text', value: 'x' } }, { kind: 'not', item: { kind: 'flag', name: 'behindNat', value: true } }] },
    ],
  }, 'keywords in any case; AND binds tighter than OR; double quotes too');
  t.same(parseSelector("oui != 'a'"), { kind: 'not', item: { kind: 'compare', field: { kind: 'text', name: 'oui' }, op: '=', value: { type: 'text', value: 'a' } } }, '!= is NOT =');
  t.same(parseSelector("oui <> 'a'"), parseSelector("oui != 'a'"));
  t.same(parseSelector("oui NOT IN ('a')"), { kind: 'not', item: { kind: 'in', field: { kind: 'text', name: 'oui' }, values: [{ type: 'text', value: 'a' }] } });
  t.same(parseSelector('online != true'), { kind: 'not', item: { kind: 'flag', name: 'online', value: true } });
  t.same(parseSelector('lastInform < now() - 7d'), { kind: 'compare', field: { kind: 'time', name: 'lastInform' }, op: '<', value: { type: 'time', fromNow: -7 * 86_400_000 } });
  t.same(parseSelector('lastSeen > now() + 90s'), { kind: 'compare', field: { kind: 'time', name: 'lastSeen' }, op: '>', value: { type: 'time', fromNow: 90_000 } });
  t.same(parseSelector("lastSeen > '2026-01-31T12:00'"), { kind: 'compare', field: { kind: 'time', name: 'lastSeen' }, op: '>', value: { type: 'time', at: Date.parse('2026-01-31T12:00:00Z') } }, 'UTC without a zone');
  t.same(parseSelector("lastSeen > '2026-01-31T12:00+02:00'"), { kind: 'compare', field: { kind: 'time', name: 'lastSeen' }, op: '>', value: { type: 'time', at: Date.parse('2026-01-31T10:00:00Z') } });
  t.same(parseSelector('softwareVersion < 3.10'), { kind: 'compare', field: { kind: 'version', name: 'softwareVersion' }, op: '<', value: { type: 'text', value: '3.10' } }, 'an unquoted version keeps its digits');
  t.same(parseSelector("param('A.B') > -1.5"), { kind: 'compare', field: { kind: 'param', path: 'A.B' }, op: '>', value: { type: 'number', value: -1.5 } });
  t.same(parseSelector("param('It''s.X') = 'O''Brien'"), { kind: 'compare', field: { kind: 'param', path: "It's.X" }, op: '=', value: { type: 'text', value: "O'Brien" } });
});

t.test('version keys order versions; numbers are plain decimals', async (t) => {
  const ordered = ['', '0', '1', '1.0', '1.0.1', '1.2', '1.10', '1.10a', '2', '3.0-rc1', '3.9.2', '3.10', '3.10.0', '10', '10.0.0.1', 'a', 'b2', 'b10'];
  const byKey = [...ordered].reverse().sort((a, b) => (versionKey(a) < versionKey(b) ? -1 : versionKey(a) > versionKey(b) ? 1 : 0));
  t.same(byKey, ordered);
  t.equal(versionKey('3.010'), versionKey('3.10'), 'leading zeros do not count');
  t.equal(versionKey('007'), versionKey('7'));
  t.ok(versionKey('9'.repeat(200)) > versionKey('9'.repeat(199)), 'any length of digits');
  t.same(['7', '-2.5', '+3', '1.', '.5', '1e3', ' 1', '0x10', 'n/a'].map(numberOf), [7, -2.5, 3, null, null, null, null, null, null]);
});

t.test('globs: * and ? are wildcards, everything else literal on both engines', async (t) => {
  t.equal(sqliteGlob('STB-*'), 'STB-*');
  t.equal(sqliteGlob('a[b]?\\*\\?\\\\%_'), 'a[[]b]?[*][?]\\%_');
  t.equal(postgresLike('STB-*'), 'STB-%');
  t.equal(postgresLike('a%b_c?\\*\\\\'), 'a\\%b\\_c_*\\\\');
});

t.test('SQL pieces: values are only ever parameters', async (t) => {
  const evil = "x'; DROP TABLE devices; --";
  const s = sql`SELECT 1 WHERE a = ${evil} AND ${sql`b IN (${1}, ${2})`}`;
  t.same(render(s, 'sqlite'), { text: 'SELECT 1 WHERE a = ? AND b IN (?, ?)', values: [evil, 1, 2] });
  t.same(render(s, 'postgres'), { text: 'SELECT 1 WHERE a = $1 AND b IN ($2, $3)', values: [evil, 1, 2] });
});

t.test('compiled SQL: the same condition for each engine, every value a parameter', async (t) => {
  const c = parseSelector("softwareVersion < '3.10' AND (tag LIKE 'pi*' OR id = 'x'' OR 1=1 --') AND lastInform > now() - 1d");
  const now = Date.parse('2026-03-01T00:00:00Z');
  const sqlite = render(compileCondition(c, { engine: 'sqlite', now }), 'sqlite');
  const postgres = render(compileCondition(c, { engine: 'postgres', now }), 'postgres');
  const version = "(SELECT v.value FROM device_parameters v WHERE v.device_id = d.id AND v.name = c.data_model || 'DeviceInfo.SoftwareVersion')";
  t.equal(
    sqlite.text,
    `(COALESCE(stbd_version_key(${version}) < ?, FALSE) AND (EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = d.id AND t.tag GLOB ?) OR COALESCE(d.id = ?, FALSE)) AND COALESCE(c.last_inform_at > ?, FALSE))`,
  );
  t.equal(
    postgres.text,
    `(COALESCE(stbd_version_key(${version}) COLLATE "C" < $1, FALSE) AND (EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = d.id AND t.tag LIKE $2 ESCAPE '\\') OR COALESCE(d.id = $3, FALSE)) AND COALESCE(c.last_inform_at > $4, FALSE))`,
  );
  const values = [versionKey('3.10'), 'pi*', "x' OR 1=1 --", now - 86_400_000];
  t.same(sqlite.values, values);
  t.same(postgres.values, [versionKey('3.10'), 'pi%', "x' OR 1=1 --", now - 86_400_000]);
  t.same(joinsOf(c), { cwmp: true, presence: false });
  t.throws(() => compileCondition(parseSelector('online'), { engine: 'sqlite', now }), /needs options.online/, 'online is settled by the caller');
  t.equal(render(compileCondition(parseSelector('NOT online'), { engine: 'sqlite', now, online: false }), 'sqlite').text, '(NOT FALSE)');
});

// ---------------------------------------------------------------------------------------------------------
// Against both engines, with real rows.

const NOW = Date.parse('2026-03-01T12:00:00Z');
const DAY = 86_400_000;
const box = new SealedBox(Buffer.alloc(32, 5));
/** The one device online now in memory (its stored last keepalive is recent, as after a flush). */
const ONLINE_NOW = new Set(['a1']);

interface Fleet {
  readonly id: string;
  readonly cwmp?: { productClass: string; oui: string; serial: string; root: 'Device.' | 'InternetGatewayDevice.'; lastInform: number; behindNat: 0 | 1; natId: string | null };
  readonly seen?: number;
  readonly params?: Record<string, string>;
  readonly tags?: string[];
}

const FLEET: Fleet[] = [
  {
    id: 'a1',
    cwmp: { productClass: 'STB-4K', oui: '00D09E', serial: 'A1', root: 'Device.', lastInform: NOW - DAY, behindNat: 1, natId: '198.51.100.7' },
    seen: NOW - 10_000,
    params: { 'Device.DeviceInfo.SoftwareVersion': '3.9.2', 'Device.DeviceInfo.HardwareVersion': 'rev-2', 'Device.X.Uptime': '7200', 'Device.X.Name': "O'Brien" },
    tags: ['pilot', 'region:north'],
  },
  {
    id: 'a2',
    cwmp: { productClass: 'STB-4K', oui: '00D09E', serial: 'A2', root: 'Device.', lastInform: NOW - 8 * DAY, behindNat: 0, natId: null },
    seen: NOW - 30 * DAY,
    params: { 'Device.DeviceInfo.SoftwareVersion': '3.10', 'Device.DeviceInfo.HardwareVersion': 'rev-10', 'Device.X.Uptime': '30' },
    tags: ['pilot'],
  },
  {
    id: 'b1',
    cwmp: { productClass: 'STB-HD', oui: '00AABB', serial: 'B1', root: 'InternetGatewayDevice.', lastInform: NOW - 2 * 3_600_000, behindNat: 0, natId: null },
    params: { 'InternetGatewayDevice.DeviceInfo.SoftwareVersion': '2.1.0', 'Device.X.Uptime': 'n/a' },
  },
  { id: 'c1', tags: ['region:south'] },
  { id: 'odd*id-%_' },
];

async function seed(store: Store): Promise<void> {
  const rows: Parameters<typeof insertRows>[1] = [];
  for (const d of FLEET) {
    rows.push(['devices', { id: d.id, stun_username: `s-${d.id}`, stun_password: 'sealed', cr_username: d.id, cr_password: 'sealed', cwmp_username: `w-${d.id}`, cwmp_password: 'sealed', created_at: 1, updated_at: 1, credentials_pushed_at: null, cr_generated: 0 }]);
    const c = d.cwmp;
    if (c) {
      rows.push(['cwmp_devices', { device_id: d.id, manufacturer: 'Acme', oui: c.oui, product_class: c.productClass, serial_number: c.serial, data_model: c.root, cwmp_version: '1.4', last_inform_at: c.lastInform, last_events: '[]', source_address: '203.0.113.1', cr_url: null, behind_nat: c.behindNat, nat_id: c.natId, stun_provisioned: null }]);
    }
    if (d.seen !== undefined) rows.push(['presence', { device_id: d.id, last_seen: d.seen }]);
    for (const [name, value] of Object.entries(d.params ?? {})) rows.push(['device_parameters', { device_id: d.id, name, value, type: 'xsd:string', updated_at: 1 }]);
    for (const tag of d.tags ?? []) rows.push(['device_tags', { device_id: d.id, tag, added_at: 1 }]);
  }
  await insertRows(store.query, rows);
}

const repoOf = (s: Store): SelectionRepo => (s.engine === 'sqlite' ? new SqliteSelectionRepo(s.db, box) : new PgSelectionRepo(s.pool, box));
const selectionOf = (s: Store) =>
  new DeviceSelection(repoOf(s), { now: () => NOW }, { flush: async () => undefined, seenSince: (now) => now - 5 * 60_000, onlineAmong: async (ids) => new Set(ids.filter((id) => ONLINE_NOW.has(id))) });

/** Every selector and the devices it selects, the same on both engines. */
const EXPECTED: [string, string[]][] = [
  ["productClass = 'STB-4K'", ['a1', 'a2']],
  ["productClass != 'STB-4K'", ['b1', 'c1', 'odd*id-%_']],
  ["productClass = 'stb-4k'", []],
  ["productClass < 'STB-HD'", ['a1', 'a2']],
  ["productClass >= 'STB-HD'", ['b1']],
  ["productClass > 'STB-4K'", ['b1']],
  ["productClass <= 'STB-4K'", ['a1', 'a2']],
  ["softwareVersion < '3.10'", ['a1', 'b1']],
  ["softwareVersion >= '3.10'", ['a2']],
  ["softwareVersion = '3.010'", ['a2']],
  ["softwareVersion != '3.10'", ['a1', 'b1', 'c1', 'odd*id-%_']],
  ['softwareVersion <= 3.9.2', ['a1', 'b1']],
  ["softwareVersion > '3'", ['a1', 'a2']],
  ["softwareVersion IN ('2.1', '2.1.0', '3.10.0')", ['b1']],
  ["softwareVersion LIKE '3.*'", ['a1', 'a2']],
  ["hardwareVersion > 'rev-9'", ['a2']],
  ["oui IN ('00D09E', '00AABB')", ['a1', 'a2', 'b1']],
  ["oui NOT IN ('00D09E')", ['b1', 'c1', 'odd*id-%_']],
  ["serialNumber LIKE 'A?'", ['a1', 'a2']],
  ["serialNumber LIKE 'a*'", []],
  ["id LIKE 'odd\\*id?%_'", ['odd*id-%_']],
  ["id LIKE 'odd%'", []],
  ["id LIKE '*_'", ['odd*id-%_']],
  ["id = 'c1'", ['c1']],
  ["id > 'b1'", ['c1', 'odd*id-%_']],
  ["tag = 'pilot'", ['a1', 'a2']],
  ["tag != 'pilot'", ['b1', 'c1', 'odd*id-%_']],
  ["tag IN ('region:north', 'region:south')", ['a1', 'c1']],
  ["tag LIKE 'region:*'", ['a1', 'c1']],
  ["NOT tag LIKE '*'", ['b1', 'odd*id-%_']],
  ['online', ['a1']],
  ['NOT online', ['a2', 'b1', 'c1', 'odd*id-%_']],
  ['online = false', ['a2', 'b1', 'c1', 'odd*id-%_']],
  ["online AND tag = 'pilot'", ['a1']],
  ["online OR productClass = 'STB-HD'", ['a1', 'b1']],
  ["NOT (online OR tag = 'pilot')", ['b1', 'c1', 'odd*id-%_']],
  ["NOT online AND tag = 'pilot'", ['a2']],
  ['behindNat', ['a1']],
  ['behindNat = false', ['a2', 'b1']],
  ['NOT behindNat', ['a2', 'b1', 'c1', 'odd*id-%_']],
  ["natId = '198.51.100.7'", ['a1']],
  ['lastInform < now() - 7d', ['a2']],
  ['lastInform >= now() - 7d', ['a1', 'b1']],
  ["lastInform > '2020-01-01'", ['a1', 'a2', 'b1']],
  ["lastInform = '2026-02-28T12:00:00Z'", ['a1']],
  ['lastSeen < now() - 1d', ['a2']],
  ['lastSeen > now() - 1m', ['a1']],
  ["param('Device.X.Uptime') > 3600", ['a1']],
  ["param('Device.X.Uptime') < 100", ['a2']],
  ["param('Device.X.Uptime') > -1", ['a1', 'a2']],
  ["param('Device.X.Uptime') = '30'", ['a2']],
  ["param('Device.X.Uptime') > '4'", ['a1', 'b1']],
  ["param('Device.X.Uptime') IN (30, 7200)", ['a1', 'a2']],
  ["param('Device.X.Uptime') LIKE 'n/*'", ['b1']],
  ["param('Device.X.Name') = 'O''Brien'", ['a1']],
  ["param('Device.Nothing') = ''", []],
  ["productClass = 'STB-4K' AND softwareVersion >= '3.0'", ['a1', 'a2']],
  ["productClass = 'STB-HD' OR productClass = 'STB-4K' AND softwareVersion >= '3.10'", ['a2', 'b1']],
  ["(productClass = 'STB-HD' OR productClass = 'STB-4K') AND softwareVersion >= '3.10'", ['a2']],
  // Injection attempts: values stay values.
  ["id = ''' OR 1=1 --'", []],
  ["productClass = 'STB-4K''; DROP TABLE devices; --'", []],
  ["param('x'')OR(1=1)--') = 'a'", []],
  ["tag LIKE '*'' OR ''1''=''1'", []],
  ["serialNumber IN ('A1'') OR (''1''=''1')", []],
];

for (const engine of engines(t)) {
  t.test(`${engine.name}: selectors against real rows`, async (t) => {
    const store = await engine.open(t);
    await seed(store);
    const selection = selectionOf(store);
    const all = async (text: string, scan: number) => {
      const ids: string[] = [];
      for await (const page of selection.pages(parseSelector(text), scan)) ids.push(...page);
      return ids;
    };
    for (const [text, expected] of EXPECTED) t.same(await all(text, 1000), expected, text);

    t.test('pages of two devices give the same selections, in keyset pages', async (t) => {
      for (const [text, expected] of EXPECTED) t.same(await all(text, 2), expected, text);
      const first = await selection.ids(parseSelector("tag = 'pilot'"), undefined, 2);
      t.same(first, { items: ['a1', 'a2'], next: 'a2' });
      const empty = await selection.ids(parseSelector("tag = 'pilot'"), 'a2', 2);
      t.same(empty, { items: [], next: 'c1' }, 'a page may match none and still go on');
      t.same(await selection.ids(parseSelector("tag = 'pilot'"), 'c1', 2), { items: [], next: null }, 'the last window is short: the end');
    });

    t.test('device records of a page; devices among given ids', async (t) => {
      const page = await selection.devices(parseSelector('online OR behindNat = false'), undefined, 1000);
      t.same(page.items.map((d) => [d.id, d.credentials.stunUsername]), [['a1', 's-a1'], ['a2', 's-a2'], ['b1', 's-b1']]);
      t.same(await selection.matching(parseSelector("tag = 'pilot'"), ['a2', 'b1', 'nobody']), ['a2']);
      t.same(await selection.matching(parseSelector('online'), ['a1', 'a2']), ['a1']);
    });

    t.test('the store is intact after the injection attempts', async (t) => {
      t.same((await store.query('SELECT count(*) AS n FROM devices'))[0], { n: store.engine === 'sqlite' ? 5 : '5' });
    });

    t.test("the engine's version keys and numbers are the TypeScript ones", async (t) => {
      const versions = ['', '0', '00', '3.9.2', '3.10', '3.010', '0007', 'v2-beta10', '1.2.3.4.5', 'é1', '9'.repeat(40), 'a b\n12', '1a2b3', 'x00y0', '.1.', '1.2.', '1\n\n2', `${'0'.repeat(12)}5`];
      const keyOf = async (v: string) => (await store.query('SELECT stbd_version_key($1) AS k', [v]))[0]!['k'];
      for (const v of versions) t.equal(await keyOf(v), versionKey(v), JSON.stringify(v));
      const numberIn = async (v: string) => (await store.query('SELECT stbd_number($1) AS n', [v]))[0]!['n'];
      for (const v of ['7', '-2.5', '+3', '1.', '1e3', 'n/a', '12345678901234567890']) t.equal(await numberIn(v), numberOf(v), JSON.stringify(v));
    });
  });
}
