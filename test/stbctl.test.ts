import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, spawnDaemon, STBCTL, writeTestConfig } from './helpers/daemon.js';

const HEADER = 'id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password';

t.test('stbctl against a running daemon', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop());
  // The daemon's config says port 0 (any free port), so the address comes from --api, the token from --config.
  const ctl = (...args: string[]) => run(STBCTL, ['--config', config, '--api', daemon.url, ...args]);
  const json = async (...args: string[]) => {
    const r = await ctl(...args, '--json');
    t.equal(r.code, 0, `stbctl ${args.join(' ')} exits 0 (stderr: ${r.stderr}, stdout: ${r.stdout.slice(0, 300)})`);
    return JSON.parse(r.stdout);
  };

  t.test('status', async (t) => {
    const s = await json('status');
    t.match(s, { status: 'ok', devices: { registered: 0 }, api: daemon.url });
    const human = await ctl('status');
    t.match(human.stdout, /^stbd\s+ok \(version .*\) at http:\/\/127\.0\.0\.1:\d+\n/);
  });

  t.test('device add / show / list / remove', async (t) => {
    const added = await json('device', 'add', '00259E-STB-1', '--stun-username', 'stb1', '--cr-password', 'crpass');
    t.match(added, { id: '00259E-STB-1', credentials: { stunUsername: 'stb1', crPassword: 'crpass', cwmpUsername: '00259E-STB-1' } });
    t.match(added.credentials.stunPassword, /^[A-Za-z0-9_-]{24}$/);

    const human = await ctl('device', 'add', '00259E-STB-2');
    t.equal(human.code, 0);
    t.match(human.stdout, /registered 00259E-STB-2\n\ncredentials \(shown only now; store them safely\):\nstun username\s+00259E-STB-2\nstun password\s+[A-Za-z0-9_-]{24}\n/);

    const shown = await json('device', 'show', '00259E-STB-1');
    t.same(Object.keys(shown).slice(0, 5), ['id', 'online', 'binding', 'natId', 'lastSeen']);
    t.match(shown, { id: '00259E-STB-1', online: false, binding: null, natId: null, lastSeen: null, stunUsername: 'stb1' });
    t.notOk('credentials' in shown, 'show never prints secrets');

    const list = await json('device', 'list');
    t.same(list.map((d: { id: string }) => d.id), ['00259E-STB-1', '00259E-STB-2']);
    t.match(list[0], { online: false, binding: null, natId: null, lastSeen: null });
    const table = await ctl('device', 'list');
    t.match(table.stdout, /^ID\s+ONLINE\s+BINDING\s+NAT ID\s+LAST SEEN\s+TAGS\n00259E-STB-1\s+no\s+-\s+-\s+never\s+-\n/);

    t.same(await json('device', 'remove', '00259E-STB-2'), { removed: '00259E-STB-2' });
    t.same((await json('device', 'list')).length, 1);
    t.notOk(daemon.logs.join('\n').includes(added.credentials.stunPassword), 'the daemon never logged the secret');
  });

  t.test('errors: one line, non-zero exit, JSON with --json', async (t) => {
    const unknown = await ctl('device', 'show', 'nope');
    t.equal(unknown.code, 1);
    t.equal(unknown.stderr, 'stbctl: device "nope" not found\n');
    const unknownJson = await ctl('device', 'remove', 'nope', '--json');
    t.equal(unknownJson.code, 1);
    t.same(JSON.parse(unknownJson.stdout), { error: 'not-found', message: 'device "nope" not found' });

    const badToken = await run(STBCTL, ['--api', daemon.url, '--token', 'not-the-token-at-all', 'device', 'list']);
    t.equal(badToken.code, 1);
    t.equal(badToken.stderr, 'stbctl: the API refused the token (401): missing or wrong bearer token (see [api] token_file)\n');

    const dup = await ctl('device', 'add', '00259E-STB-1', '--json');
    t.equal(dup.code, 1);
    t.match(JSON.parse(dup.stdout), { error: 'conflict', message: 'id "00259E-STB-1" is already used by another device' });

    const badInput = await ctl('device', 'add', 'x', '--stun-password', ' padded');
    t.equal(badInput.code, 1);
    t.equal(badInput.stderr, 'stbctl: stunPassword: contains characters that are not allowed (control characters, or white space at either end)\n');

    const usage = await ctl('device', 'show');
    t.equal(usage.code, 2, 'a usage error exits 2');
    t.equal(usage.stderr, "stbctl: missing required argument 'id'; see 'stbctl device show --help'\n", 'one line, never the whole help');
    const unknownOption = await ctl('device', 'list', '--frob');
    t.equal(unknownOption.code, 2);
    t.equal(unknownOption.stderr, "stbctl: unknown option '--frob'; see 'stbctl device list --help'\n");
    const unknownCommand = await ctl('frobnicate');
    t.equal(unknownCommand.code, 2);
    t.equal(unknownCommand.stderr, "stbctl: unknown command 'frobnicate'; see 'stbctl --help'\n");

    const badApi = await run(STBCTL, ['--api', 'localhost:7557', 'status']);
    t.equal(badApi.code, 2);
    t.equal(badApi.stderr, `stbctl: --api/STBD_API must look like http://HOST:PORT, got "localhost:7557"; see 'stbctl status --help'\n`);
  });

  t.test('address and token from --config alone, from flags, from the environment', async (t) => {
    // A config naming the daemon's real port (its own says 0) and the same token file.
    const clientConfig = writeTestConfig(t.testdir(), { api: { listen: `127.0.0.1:${daemon.port}`, token_file: join(dir, 'api.token') } });
    const viaConfig = await run(STBCTL, ['--config', clientConfig, 'device', 'show', '00259E-STB-1', '--json']);
    t.equal(viaConfig.code, 0, viaConfig.stderr);
    const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
    const viaFlags = await run(STBCTL, ['--api', daemon.url, '--token', token, 'device', 'show', '00259E-STB-1', '--json']);
    t.equal(viaFlags.code, 0);
    const viaEnv = await run(STBCTL, ['device', 'show', '00259E-STB-1', '--json'], { STBD_API: daemon.url, STBD_TOKEN: token });
    t.equal(viaEnv.code, 0);
    t.equal(JSON.parse(viaEnv.stdout).id, '00259E-STB-1');
    const viaConfigEnv = await run(STBCTL, ['device', 'show', '00259E-STB-1', '--json'], { STBD_CONFIG: clientConfig });
    t.equal(viaConfigEnv.code, 0, `STBD_CONFIG names the config (stderr: ${viaConfigEnv.stderr})`);
    const flagBeatsEnv = await run(STBCTL, ['--config', join(dir, 'nowhere.toml'), 'device', 'list'], { STBD_CONFIG: clientConfig });
    t.equal(flagBeatsEnv.code, 1, '--config comes before STBD_CONFIG');
    t.match(flagBeatsEnv.stderr, /nowhere\.toml/);
  });

  t.test('top-level help: where the config is looked for, examples, exit codes', async (t) => {
    const help = await ctl('--help');
    t.equal(help.code, 0);
    t.match(help.stdout, /--config FILE, else \$STBD_CONFIG, else \/etc\/stbd\/stbd\.toml when it exists, else config\/stbd\.toml/);
    t.match(help.stdout, /\nExamples:\n  stbctl status\n/);
    t.match(help.stdout, /\nExit codes: 0 ok, 1 the operation failed, 2 the command line was wrong \(usage\)\.\n$/);
  });

  t.test('account show: bound devices and those in the pool', async (t) => {
    const empty = await ctl('account', 'show', 'acct-none');
    t.equal(empty.code, 0, empty.stderr);
    t.equal(empty.stdout, 'account acct-none\n\nbound: none\n\nin the pool: none\n');
    t.same(await json('account', 'show', 'acct-none'), { account: 'acct-none', bound: [], pooled: [] });
    const usage = await ctl('account', 'show');
    t.equal(usage.code, 2);
    t.equal(usage.stderr, "stbctl: missing required argument 'account'; see 'stbctl account show --help'\n");
  });

  t.test('devices import: one device is "1 device"', async (t) => {
    const one = join(dir, 'one.csv');
    writeFileSync(one, `${HEADER}\nsolo-1,,,,,,\n`);
    const lost = await ctl('devices', 'import', one);
    t.equal(lost.code, 1, 'generated passwords would be lost: refused');
    t.equal(lost.stderr, `stbctl: 1 row of ${one} leaves a password empty, so stbd would generate it and it could never be shown again: give --credentials-out FILE to keep them, or --discard-generated; nothing was imported\n`);
    t.equal((await ctl('device', 'show', 'solo-1')).code, 1, 'nothing imported');
    const r = await ctl('devices', 'import', one, '--discard-generated');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'imported 1 device\n');
    t.equal((await ctl('device', 'remove', 'solo-1')).code, 0);
  });

  t.test('devices import', async (t) => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, `${HEADER}\nimp-1,,,,,,\nimp-2,,,,,,\nimp-3,,,,,"x\ty",\n`);
    const refused = await ctl('devices', 'import', bad);
    t.equal(refused.code, 1);
    t.equal(refused.stderr, 'stbctl: row 3 (line 4): cwmp_username: contains characters that are not allowed (control characters, or white space at either end)\n');
    t.equal((await ctl('device', 'show', 'imp-1')).code, 1, 'a refused import adds nothing');

    // 100,000 rows, as the contract promises; a few seconds at most (bench:import measures it).
    const rows = Array.from({ length: 100_000 }, (_, i) => `bulk-${String(i).padStart(6, '0')},,,,,,`);
    const big = join(dir, 'big.csv');
    writeFileSync(big, `${HEADER}\n${rows.join('\n')}\n`);
    const out = join(dir, 'creds.csv');
    const r = await ctl('devices', 'import', big, '--credentials-out', out, '--json');
    t.equal(r.code, 0, r.stderr);
    t.same(JSON.parse(r.stdout), { imported: 100_000 });
    t.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
    const creds = readFileSync(out, 'utf8').trimEnd().split('\n');
    t.equal(creds.length, 100_001);
    t.equal(creds[0], HEADER);
    t.match(creds[1], /^bulk-000000,bulk-000000,[A-Za-z0-9_-]{24},bulk-000000,[A-Za-z0-9_-]{24},bulk-000000,[A-Za-z0-9_-]{24}$/);
    t.equal(statSync(out).mode & 0o777, 0o600, 'the credentials file is private');
    t.equal((await json('status')).devices.registered, 100_001);
    t.equal((await json('device', 'show', 'bulk-099999')).id, 'bulk-099999');
    const all = await json('device', 'list');
    t.equal(all.length, 100_001, 'list pages through everything');
    t.equal(all.at(-1).id, 'bulk-099999');
  });
});

t.test('stbctl when the daemon is not running', async (t) => {
  const r = await run(STBCTL, ['--api', 'http://127.0.0.1:9', '--token', 'x'.repeat(20), 'status']);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'stbctl: cannot reach stbd at http://127.0.0.1:9: connection refused (is stbd running?)\n');
  const j = await run(STBCTL, ['--api', 'http://127.0.0.1:9', '--token', 'x'.repeat(20), 'device', 'list', '--json']);
  t.equal(j.code, 1);
  t.same(JSON.parse(j.stdout), { error: 'unreachable', message: 'cannot reach stbd at http://127.0.0.1:9: connection refused (is stbd running?)' });
});
