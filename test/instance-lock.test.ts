import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { run, spawnDaemon, STBD, writeTestConfig } from './helpers/daemon.js';

t.test('one stbd per database: a second one refuses to start, naming the first; a killed one never blocks', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const first = await spawnDaemon(config);
  let running = first;
  t.teardown(() => running.stop('SIGKILL'));
  const second = await run(STBD, ['--config', config]);
  t.equal(second.code, 1);
  t.equal(second.stderr, `stbd: another stbd (pid ${first.proc.pid}) is using ${join(dir, 'stbd.db')}\n`);
  const devices = await fetch(`${first.url}/health`);
  t.equal(devices.status, 200, 'the first one runs on');

  await first.stop('SIGKILL');
  running = await spawnDaemon(config);
  t.pass('after kill -9 the lock is gone with its process: the next start succeeds');
  t.equal(await running.stop('SIGTERM'), 0);
  t.notOk(readdirSync(dir).some((f) => f.endsWith('.lock') || f.endsWith('.pid')), 'a clean stop removes the lock and pid files');
});

t.test('a start that fails leaves no new files behind', async (t) => {
  const dir = t.testdir();
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  t.teardown(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  const state = join(dir, 'state');
  const config = writeTestConfig(dir, {
    store: { path: join(state, 'stbd.db') },
    api: { listen: `127.0.0.1:${port}`, token_file: join(state, 'api.token'), bss_token_file: join(state, 'bss.token') },
    certs: { media_token_file: join(state, 'media.token') },
    ca: { master_key_file: join(state, 'master.key') },
  });
  const r = await run(STBD, ['--config', config]);
  t.equal(r.code, 1);
  t.match(r.stderr, /\[api\] listen\): the address is already in use/);
  t.same(readdirSync(dir).sort(), ['stbd.toml'], 'no database, token, key or directory left');
});
