import { copyFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, spawnDaemon, STBCTL, writeTestConfig } from './helpers/daemon.js';

t.test('stbctl backup while stbd runs; restore as docs/operations.md says: the same devices, tasks, pool entries and certificates', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  let daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const call = async (method: string, path: string, json?: unknown, tokenFile = 'api.token') => {
    const token = readFileSync(join(dir, tokenFile), 'utf8').trim();
    const res = await fetch(`${daemon.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      body: json === undefined ? null : JSON.stringify(json),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  for (const id of ['stb-1', 'stb-2', 'stb-3']) t.equal((await call('POST', '/v1/devices', { id })).status, 201);
  const task = await call('POST', '/v1/devices/stb-1/tasks', { kind: 'reboot' });
  t.equal((await call('PUT', '/v1/accounts/acct/devices/stb-2', undefined, 'bss.token')).body.result, 'registered');
  t.equal((await call('DELETE', '/v1/accounts/acct/devices/stb-2', undefined, 'bss.token')).body.result, 'unbound');
  const cert = await call('POST', '/v1/certificates', { device: 'stb-3', id: 'media-stb-3' });
  t.equal(cert.status, 201, JSON.stringify(cert.body));

  const file = join(dir, 'backup.db');
  const r = await run(STBCTL, ['--config', config, '--api', daemon.url, 'backup', file]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^backup of [\d,]+ bytes written to .*backup\.db\nthe master key \(\[ca\] master_key_file\) is not in it: back it up separately\n$/);
  t.equal(statSync(file).mode & 0o777, 0o600, 'private, like the database');
  t.equal((await call('POST', '/v1/devices', { id: 'after-backup' })).status, 201);

  // Restore: stop, put the copy in place of the database (and its WAL), start.
  t.equal(await daemon.stop('SIGTERM'), 0);
  const db = join(dir, 'stbd.db');
  for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
  copyFileSync(file, db);
  daemon = await spawnDaemon(config);
  const ids = (await call('GET', '/v1/devices')).body.devices.map((d: { id: string }) => d.id);
  t.same(ids, ['stb-1', 'stb-2', 'stb-3'], 'the devices at the time of the backup');
  t.match((await call('GET', `/v1/tasks/${task.body.id}`)).body, { status: 'queued', kind: 'reboot' });
  t.match((await call('GET', '/v1/pool', undefined, 'bss.token')).body.entries, [{ device: 'stb-2', account: 'acct', state: 'pooled' }]);
  t.match((await call('GET', '/v1/certificates/media-stb-3')).body, { id: 'media-stb-3', device: 'stb-3', version: 1, status: 'valid' });

  const refused = await run(STBCTL, ['--config', config, '--api', daemon.url, '--token', 'wrong-token-0123456789', 'backup', join(dir, 'nope.db')]);
  t.equal(refused.code, 1);
  t.throws(() => statSync(join(dir, 'nope.db')), 'nothing written when refused');
  t.throws(() => statSync(join(dir, 'nope.db.partial')));
});
