import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, spawnDaemon, STBCTL, STBD, writeTestConfig } from './helpers/daemon.js';

const token = (dir: string) => readFileSync(join(dir, 'api.token'), 'utf8').trim();

t.test('SIGTERM stops gracefully (exit 0) and data written before it is there after restart', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const first = await spawnDaemon(config);
  const firstToken = token(dir);
  const added = await run(STBCTL, ['--api', first.url, '--token', firstToken, 'device', 'add', 'keep-me', '--json']);
  t.equal(added.code, 0);
  t.equal(await first.stop('SIGTERM'), 0);
  t.match(first.logs.join('\n'), /"msg":"stbd stopped"/);

  const second = await spawnDaemon(config);
  t.teardown(() => second.stop());
  t.equal(token(dir), firstToken, 'the token file is reused, not replaced');
  const shown = await run(STBCTL, ['--api', second.url, '--token', token(dir), 'device', 'show', 'keep-me', '--json']);
  t.equal(shown.code, 0);
  t.equal(JSON.parse(shown.stdout).stunUsername, JSON.parse(added.stdout).credentials.stunUsername);
});

t.test('SIGINT stops gracefully too', async (t) => {
  const d = await spawnDaemon(writeTestConfig(t.testdir()));
  t.equal(await d.stop('SIGINT'), 0);
});

t.test('an acknowledged write survives kill -9', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const first = await spawnDaemon(config);
  const header = 'id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password';
  writeFileSync(join(dir, 'd.csv'), `${header}\n${Array.from({ length: 500 }, (_, i) => `k${i},,,,,,`).join('\n')}\n`);
  const imported = await run(STBCTL, ['--api', first.url, '--token', token(dir), 'devices', 'import', join(dir, 'd.csv'), '--json']);
  t.equal(imported.code, 0);
  t.equal(await first.stop('SIGKILL'), null, 'killed, no chance to flush');
  const second = await spawnDaemon(config);
  t.teardown(() => second.stop());
  const status = await run(STBCTL, ['--api', second.url, 'status', '--json']);
  t.equal(JSON.parse(status.stdout).devices.registered, 500);
});

t.test('a port already in use: a clear message and a non-zero exit', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const config = writeTestConfig(t.testdir(), { api: { listen: `127.0.0.1:${port}` } });
  const r = await run(STBD, ['--config', config]);
  t.equal(r.code, 1);
  t.equal(r.stderr, `stbd: cannot listen on 127.0.0.1:${port} ([api] listen): the address is already in use [EADDRINUSE]\n`);
});
