import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startInProcess } from './helpers/in-process.js';

t.test('admin API', async (t) => {
  const dir = t.testdir();
  const d = await startInProcess(dir);
  t.teardown(() => d.daemon.stop());

  t.test('the token file is created on first start, private', async (t) => {
    t.equal(statSync(join(dir, 'api.token')).mode & 0o777, 0o600);
    t.ok(d.token.length >= 32);
  });

  t.test('GET /health needs no token and reports counts', async (t) => {
    const r = await d.api('GET', '/health', { token: null });
    t.equal(r.status, 200);
    t.match(r.body, { status: 'ok', version: /^\d+\.\d+\.\d+/, devices: { registered: 0 } });
  });

  t.test('everything else needs the bearer token', async (t) => {
    for (const token of [null, 'wrong-token-wrong-token', `${d.token}x`]) {
      const r = await d.api('GET', '/v1/devices', { token });
      t.equal(r.status, 401, `token ${token}`);
      t.equal(r.body.error, 'unauthorized');
    }
    const r = await d.api('POST', '/v1/devices', { json: { id: 'X' }, token: null });
    t.equal(r.status, 401);
    t.equal((await d.api('GET', '/v1/devices/X')).status, 404, 'and the refused create changed nothing');
  });

  t.test('create generates missing secrets, shows them once, never again', async (t) => {
    const r = await d.api('POST', '/v1/devices', { json: { id: '00259E-STB-A1', cwmpPassword: 'factory-pass' } });
    t.equal(r.status, 201);
    t.match(r.body, { id: '00259E-STB-A1', online: false, binding: null, natId: null, lastSeen: null });
    const c = r.body.credentials;
    t.equal(c.stunUsername, '00259E-STB-A1', 'usernames default to the id');
    t.equal(c.cwmpPassword, 'factory-pass', 'given secrets are kept');
    t.match(c.stunPassword, /^[A-Za-z0-9_-]{24}$/, 'generated: 144 random bits');
    t.not(c.stunPassword, c.crPassword);
    const shown = await d.api('GET', '/v1/devices/00259E-STB-A1');
    t.equal(shown.status, 200);
    t.notMatch(JSON.stringify(shown.body), /assword/, 'no password in GET');
    t.notMatch(JSON.stringify((await d.api('GET', '/v1/devices')).body), /assword/, 'no password in list');
    t.notOk(d.logText().includes(c.stunPassword) || d.logText().includes('factory-pass'), 'no secret in the logs');
    t.match((await d.api('GET', '/health')).body, { devices: { registered: 1 } });
  });

  t.test('bad bodies get 400 naming the field, and change nothing', async (t) => {
    const cases: [unknown, string][] = [
      [{}, 'id: is required'],
      [{ id: 42 }, 'id: must be string'],
      [{ id: '' }, 'id: must NOT have fewer than 1 characters'],
      [{ id: 'x'.repeat(257) }, 'id: must NOT have more than 256 characters'],
      [{ id: 'tab\there' }, 'id: contains characters that are not allowed (control characters, or white space at either end)'],
      [{ id: ' lead' }, 'id: contains characters that are not allowed (control characters, or white space at either end)'],
      [{ id: 'ok', stunPassword: 'p'.repeat(129) }, 'stunPassword: must NOT have more than 128 characters'],
      [{ id: 'ok', cwmpUsername: null }, 'cwmpUsername: must be string'],
      [{ id: 'ok', color: 'red' }, 'color: is not a known field'],
      [['ok'], 'body: must be object'],
    ];
    for (const [json, message] of cases) {
      const r = await d.api('POST', '/v1/devices', { json });
      t.equal(r.status, 400, JSON.stringify(json));
      t.same(r.body, { error: 'bad-request', message });
    }
    const notJson = await d.api('POST', '/v1/devices', { body: '{"id":', contentType: 'application/json' });
    t.equal(notJson.status, 400);
    t.equal(notJson.body.error, 'bad-request');
    const wrongType = await d.api('POST', '/v1/devices', { body: 'id=x', contentType: 'application/x-www-form-urlencoded' });
    t.equal(wrongType.status, 415);
    const tooBig = await d.api('POST', '/v1/devices', { json: { id: 'big', pad: 'x'.repeat(2 * 1024 * 1024) } });
    t.equal(tooBig.status, 413);
    t.equal((await d.api('GET', '/health')).body.devices.registered, 1, 'nothing was created');
    t.equal((await d.api('GET', '/v1/devices?limit=0')).status, 400);
    t.equal((await d.api('GET', '/v1/devices?limit=abc')).body.message, 'limit: must be integer');
    t.equal((await d.api('GET', '/v1/devices?sort=id')).body.message, 'sort: is not a known field');
  });

  t.test('duplicates are 409 naming the field', async (t) => {
    const dupId = await d.api('POST', '/v1/devices', { json: { id: '00259E-STB-A1' } });
    t.equal(dupId.status, 409);
    t.same(dupId.body, { error: 'conflict', message: 'id "00259E-STB-A1" is already used by another device', field: 'id' });
    const dupUser = await d.api('POST', '/v1/devices', { json: { id: 'other', stunUsername: '00259E-STB-A1' } });
    t.equal(dupUser.status, 409);
    t.equal(dupUser.body.field, 'stunUsername');
    t.equal((await d.api('GET', '/v1/devices/other')).status, 404);
  });

  t.test('ids with any printable characters work, URL-encoded', async (t) => {
    for (const id of ['a/b', 'sp ace', 'ünï-cødé', '%2F?#', 'é'.repeat(256)]) {
      t.equal((await d.api('POST', '/v1/devices', { json: { id } })).status, 201, id);
      const r = await d.api('GET', `/v1/devices/${encodeURIComponent(id)}`);
      t.equal(r.body.id, id);
      t.equal((await d.api('DELETE', `/v1/devices/${encodeURIComponent(id)}`)).status, 204);
      t.equal((await d.api('GET', `/v1/devices/${encodeURIComponent(id)}`)).status, 404);
    }
  });

  t.test('list pages in id order', async (t) => {
    for (const id of ['p3', 'p1', 'p2']) await d.api('POST', '/v1/devices', { json: { id } });
    const first = await d.api('GET', '/v1/devices?limit=2');
    t.same(first.body.devices.map((x: { id: string }) => x.id), ['00259E-STB-A1', 'p1']);
    t.equal(first.body.next, 'p1');
    const second = await d.api('GET', '/v1/devices?limit=2&after=p1');
    t.same(second.body.devices.map((x: { id: string }) => x.id), ['p2', 'p3']);
    const third = await d.api('GET', '/v1/devices?limit=2&after=p3');
    t.same(third.body, { devices: [], next: null });
  });

  t.test('delete', async (t) => {
    t.equal((await d.api('DELETE', '/v1/devices/p2')).status, 204);
    const again = await d.api('DELETE', '/v1/devices/p2');
    t.equal(again.status, 404);
    t.same(again.body, { error: 'not-found', message: 'device "p2" not found' });
  });

  t.test('CSV import: all rows or none', async (t) => {
    const header = 'id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password';
    const before = (await d.api('GET', '/health')).body.devices.registered;
    const bad = await d.api('POST', '/v1/devices/import', { body: `${header}\nc1,,,,,,\nc2,,"bad\tpw",,,,\n` });
    t.equal(bad.status, 400);
    t.same(bad.body, {
      error: 'bad-request',
      message: 'row 2 (line 3): stun_password: contains characters that are not allowed (control characters, or white space at either end)',
      row: 2,
      line: 3,
    });
    const dup = await d.api('POST', '/v1/devices/import', { body: `${header}\nc1,,,,,,\nc2,,,,,,\nc1,,,,,,\n` });
    t.equal(dup.body.message, 'row 3 (line 4): id "c1" is already used (by a registered device or an earlier row)');
    const clash = await d.api('POST', '/v1/devices/import', { body: `id,stun_username\nc9,p1\n` });
    t.equal(clash.body.message, 'row 1 (line 2): stun_username "p1" is already used (by a registered device or an earlier row)');
    t.equal((await d.api('POST', '/v1/devices/import', { body: 'id,colour\nx,red\n' })).body.message, 'unknown column "colour" in the header (known: id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password)');
    t.equal((await d.api('POST', '/v1/devices/import', { body: 'stun_username\nx\n' })).body.message, 'the header has no "id" column');
    t.match((await d.api('POST', '/v1/devices/import', { body: 'id,cr_password\nx,"unclosed\n' })).body.message, /^not valid CSV: /);
    t.equal((await d.api('POST', '/v1/devices/import', { body: 'id,cr_password\nx,a,b\n' })).status, 400, 'too many cells');
    t.equal((await d.api('POST', '/v1/devices/import', { body: '' })).status, 400);
    t.equal((await d.api('GET', '/health')).body.devices.registered, before, 'refused imports added nothing');
    t.equal((await d.api('GET', '/v1/devices/c1')).status, 404);

    const good = await d.api('POST', '/v1/devices/import?credentials=true', { body: `\uFEFF${header}\r\nc1,,,,,,\r\nc2,su2,sp2,cu2,cp2,wu2,wp2\r\n\r\n` });
    t.equal(good.status, 201);
    t.equal(good.body.imported, 2);
    t.match(good.body.credentials[1], { id: 'c2', stunUsername: 'su2', stunPassword: 'sp2', crUsername: 'cu2', crPassword: 'cp2', cwmpUsername: 'wu2', cwmpPassword: 'wp2' });
    t.match(good.body.credentials[0].stunPassword, /^[A-Za-z0-9_-]{24}$/);
    t.equal((await d.api('GET', '/health')).body.devices.registered, before + 2);
    t.equal((await d.api('GET', '/v1/devices/c2')).body.stunUsername, 'su2');
    t.notOk(d.logText().includes('sp2') || d.logText().includes('wp2'), 'imported secrets are not logged');
  });

  t.test('unknown routes are JSON 404s', async (t) => {
    const r = await d.api('GET', '/v1/nothing');
    t.equal(r.status, 404);
    t.equal(r.body.error, 'not-found');
  });
});

t.test('passwords an operator gives are at least [devices] min_password_length (12) long, by API and by CSV', async (t) => {
  const d = await startInProcess(t.testdir(), { devices: { min_password_length: 12 } });
  t.teardown(() => d.daemon.stop());
  const short = await d.api('POST', '/v1/devices', { json: { id: 'a1', cwmpPassword: 'eleven-char' } });
  t.equal(short.status, 400);
  t.equal(short.body.message, 'cwmpPassword: shorter than 12 characters ([devices] min_password_length)');
  t.equal((await d.api('POST', '/v1/devices', { json: { id: 'a1', cwmpPassword: 'twelve-chars' } })).status, 201);
  t.equal((await d.api('POST', '/v1/devices', { json: { id: 'a2' } })).status, 201, 'generated ones are long enough');
  const header = 'id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password';
  const csv = await d.api('POST', '/v1/devices/import', { body: `${header}\nc1,,,,long-enough-pw,,\nc2,,,,short,,\n` });
  t.equal(csv.status, 400);
  t.match(csv.body.message, /row 2 \(line 3\): cr_password: shorter than 12 characters \(\[devices\] min_password_length\)/);
  t.equal((await d.api('GET', '/v1/devices/c1')).status, 404, 'nothing imported');
});

t.test('bodies are bounded by route: a large CSV goes to the import route only', async (t) => {
  const d = await startInProcess(t.testdir());
  t.teardown(() => d.daemon.stop());
  const big = `id\n${'x'.repeat(2 * 1024 * 1024)}\n`;
  for (const path of ['/v1/certificates/c1/verify', '/v1/devices', '/v1/devices/x/tasks']) {
    const r = await d.api('POST', path, { body: big, contentType: 'text/csv' });
    t.equal(r.status, 413, `${path}: a 2 MB body is refused`);
  }
  const header = 'id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password';
  const rows = Array.from({ length: 20_000 }, (_, i) => `bulk-${String(i).padStart(6, '0')},,,,,,`).join('\n');
  const r = await d.api('POST', '/v1/devices/import', { body: `${header}\n${rows}\n${' '.repeat(1024 * 1024)}` , contentType: 'text/csv' });
  t.not(r.status, 413, 'the import route takes more than 1 MiB');
});
