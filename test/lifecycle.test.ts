import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cpeRequest } from './helpers/cpe.js';
import { run, spawnDaemon, STBCTL, STBD, writeTestConfig } from './helpers/daemon.js';
import { UdpPeer } from './helpers/udp.js';

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
  // Its STUN password, stored sealed, is opened after the start; the line says when they all are. (On PostgreSQL a
  // node loads only the devices whose keepalives it held, and this one sent none: there is nothing to open.)
  if (process.env['STBD_TEST_STORE'] !== 'postgres') {
    const opened = () => second.logs.filter((l) => l.includes('"msg":"STUN passwords opened"')).map((l) => JSON.parse(l) as unknown)[0];
    for (let i = 0; i < 100 && opened() === undefined; i++) await new Promise((r) => setTimeout(r, 50));
    t.match(opened(), { passwords: 1, seconds: Number });
  }
});

t.test('presence survives a SIGTERM restart', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const first = await spawnDaemon(config);
  const ctl = (d: { url: string }, ...args: string[]) => run(STBCTL, ['--api', d.url, '--token', token(dir), ...args, '--json']);
  t.equal((await ctl(first, 'device', 'add', 'stb-9', '--stun-password', 'pw-9')).code, 0);
  const cpe = await UdpPeer.open();
  t.teardown(() => cpe.close());
  const answer = await cpe.exchange(cpeRequest({ username: 'stb-9', connectionRequestBinding: true, integrity: { password: 'pw-9', variant: 'rfc3489' } }), first.stunPort);
  t.ok(answer, 'answered');
  const before = JSON.parse((await ctl(first, 'device', 'show', 'stb-9')).stdout);
  t.match(before, { online: true, binding: { address: '127.0.0.1', port: cpe.port }, natId: '127.0.0.1' });
  t.equal(await first.stop('SIGTERM'), 0);

  const second = await spawnDaemon(config);
  t.teardown(() => second.stop());
  const after = JSON.parse((await ctl(second, 'device', 'show', 'stb-9')).stdout);
  t.same(after, before, 'online, binding, NAT id and last keepalive as they were');
  // The trusted source survived too: a plain keepalive from the same port needs no new challenge.
  const plain = await cpe.exchange(cpeRequest({ username: 'stb-9' }), second.stunPort);
  t.equal(plain?.readUInt16BE(0), 0x0101);
  const online = JSON.parse((await ctl(second, 'device', 'list', '--online')).stdout);
  t.same(online.map((d: { id: string }) => d.id), ['stb-9']);
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
  const imported = await run(STBCTL, ['--api', first.url, '--token', token(dir), 'devices', 'import', join(dir, 'd.csv'), '--discard-generated', '--json']);
  t.equal(imported.code, 0);
  t.equal(await first.stop('SIGKILL'), null, 'killed, no chance to flush');
  const second = await spawnDaemon(config);
  t.teardown(() => second.stop());
  const status = await run(STBCTL, ['--api', second.url, '--token', token(dir), 'status', '--json']);
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

t.test('a STUN port already in use: a clear message naming [stun] listen', async (t) => {
  const blocker = await UdpPeer.open();
  t.teardown(() => blocker.close());
  const config = writeTestConfig(t.testdir(), { stun: { listen: `127.0.0.1:${blocker.port}` } });
  const r = await run(STBD, ['--config', config]);
  t.equal(r.code, 1);
  t.equal(r.stderr, `stbd: cannot listen on 127.0.0.1:${blocker.port} ([stun] listen): the address is already in use [EADDRINUSE]\n`);
});
