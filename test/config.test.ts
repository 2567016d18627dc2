import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseToml } from 'smol-toml';
import { parseDuration } from '../src/config/duration.js';
import { parseListen } from '../src/config/listen.js';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig, parseConfig } from '../src/config/load.js';
import { configSchema } from '../src/config/schema.js';
import { ROOT, run, STBD } from './helpers/daemon.js';

const errorOf = (text: string): string => {
  try {
    parseConfig(text, '/etc/stbd/stbd.toml', '/srv');
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

/** `stbd check-config` on a config written into `dir` (c.toml), the files it names beside it. */
const checkConfigIn = (dir: string) => {
  const at = (f: string) => join(dir, f);
  const check = (body: string) => {
    writeFileSync(at('c.toml'), body);
    return run(STBD, ['check-config', '--config', at('c.toml')]);
  };
  return { dir, at, check };
};

t.test('the embedded default config lists every key with the schema default, and loads', async (t) => {
  const doc = parseToml(readFileSync(DEFAULT_CONFIG_FILE, 'utf8')) as Record<string, Record<string, unknown>>;
  const fromSchema = Object.fromEntries(
    Object.entries(configSchema).map(([s, fields]) => [s, Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.default]))]),
  );
  t.same(doc, fromSchema);
  const config = loadConfig(DEFAULT_CONFIG_FILE, '/home/op/stbd');
  t.equal(config.store.path, '/home/op/stbd/var/stbd.db', 'relative paths resolve against the working directory');
  t.same(config.api.listen, { host: '127.0.0.1', port: 7557 });
  t.same(config.stun.listen, { host: '0.0.0.0', port: 3478 });
  t.same(config.cwmp.listen, { host: '0.0.0.0', port: 7547 });
  t.equal(config.api.token_file, '/home/op/stbd/var/api.token');
  t.equal(config.store.busy_timeout, 5000);
  t.equal(config.log.level, 'info');
});

t.test('an empty file means all defaults; given values override them', async (t) => {
  const c = parseConfig('[api]\nlisten = "[::1]:9000"\n[store]\npath = "/var/lib/stbd/stbd.db"\nbusy_timeout = "250ms"\n', 'f', '/srv');
  t.same(c.api.listen, { host: '::1', port: 9000 });
  t.equal(c.store.path, '/var/lib/stbd/stbd.db');
  t.equal(c.store.busy_timeout, 250);
  t.equal(parseConfig('', 'f', '/srv').log.level, 'info');
});

t.test('each kind of mistake is named with the file, the key and the problem', async (t) => {
  t.equal(errorOf('[sotre]\npath = "x"\n'), '/etc/stbd/stbd.toml: [sotre]: unknown section (known sections: store, api, devices, stun, cwmp, uploads, files, campaigns, pool, cas, ca, certs, cluster, log)');
  t.equal(errorOf('[api]\ntokenfile = "x"\n'), '/etc/stbd/stbd.toml: [api] tokenfile: unknown key (known keys in [api]: listen, token_file, bss_token_file, header_timeout, body_timeout, idle_timeout, max_connections, max_connections_per_source)');
  t.equal(errorOf('level = "info"\n'), '/etc/stbd/stbd.toml: level: unknown key (known sections: store, api, devices, stun, cwmp, uploads, files, campaigns, pool, cas, ca, certs, cluster, log)');
  t.equal(errorOf('[api]\nlisten = "localhost"\n'), '/etc/stbd/stbd.toml: [api] listen: expected "IP:PORT" or "[IPv6]:PORT" (e.g. "127.0.0.1:7557"), got "localhost"');
  t.equal(errorOf('[api]\nlisten = 7557\n'), '/etc/stbd/stbd.toml: [api] listen: expected "IP:PORT" or "[IPv6]:PORT" (e.g. "127.0.0.1:7557"), got 7557 (number)');
  t.match(errorOf('[stun]\nlisten = "0.0.0.0:70000"\n'), /\[stun\] listen: expected .*got "0.0.0.0:70000"/);
  t.match(errorOf('[cwmp]\nlisten = "999.1.1.1:7547"\n'), /\[cwmp\] listen: expected/);
  t.equal(errorOf('[store]\nbusy_timeout = "5"\n'), '/etc/stbd/stbd.toml: [store] busy_timeout: expected a duration such as "500ms", "30s", "10m", "12h" or "30d", got "5"');
  t.equal(errorOf('[log]\nlevel = "loud"\n'), '/etc/stbd/stbd.toml: [log] level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got "loud"');
  t.equal(errorOf('[store]\npath = ""\n'), '/etc/stbd/stbd.toml: [store] path: expected a non-empty file path, got ""');
  t.match(errorOf('[store]\npath = \n'), /^\/etc\/stbd\/stbd\.toml: TOML syntax error at line 2, column \d+: /);
  t.equal(errorOf('store = 1\n'), '/etc/stbd/stbd.toml: store: must be a [store] section, not a value');
  t.equal(errorOf('[pool]\nmax_bound_per_account = 0\n'), '/etc/stbd/stbd.toml: [pool] max_bound_per_account: expected a whole number from 1 to 100000, got 0 (number)');
  t.equal(errorOf('[pool]\nmax_pooled_per_account = 2.5\n'), '/etc/stbd/stbd.toml: [pool] max_pooled_per_account: expected a whole number from 1 to 100000, got 2.5 (number)');
  t.equal(errorOf('[cwmp]\nheader_timeout = "50ms"\n'), '/etc/stbd/stbd.toml: [cwmp] header_timeout: must be at least 100 ms, got "50ms"');
  t.equal(errorOf('[certs]\nmax_connections = 0\n'), '/etc/stbd/stbd.toml: [certs] max_connections: expected a whole number from 1 to 1000000, got 0 (number)');
  t.equal(errorOf('[stun]\nkeepalive_period = "500ms"\n'), '/etc/stbd/stbd.toml: [stun] keepalive_period: must be at least 1000 ms, got "500ms"');
  t.equal(errorOf('[stun]\nlisten_v6 = "0.0.0.0:3478"\n'), '/etc/stbd/stbd.toml: [stun] listen_v6: expected "" (off) or "[IPv6]:PORT" (e.g. "[::]:3478"), got "0.0.0.0:3478"');
  t.equal(errorOf('[stun]\nanswer_anonymous = "yes"\n'), '/etc/stbd/stbd.toml: [stun] answer_anonymous: expected true or false, got "yes"');
  t.match(errorOf('[uploads]\nurl = "https://acs.example.net/upload"\n'), /\[uploads\] url: expected "" or a scheme, host and port .* \(no path\), got "https:\/\/acs.example.net\/upload"/);
  t.match(errorOf('[uploads]\nmax_size = 100\n'), /\[uploads\] max_size: /);
  t.equal(errorOf('[cas]\nkind = "http"\n'), '/etc/stbd/stbd.toml: [cas] url: expected the CAS\'s http(s) URL when [cas] kind = "http", got ""');
  t.equal(errorOf('[cas]\nkind = "http"\nurl = "https://cas.example.net/api"\n'), '/etc/stbd/stbd.toml: [cas] token_file: required when [cas] kind = "http" (the file holding its bearer token)');
  t.equal(errorOf('[cluster]\nnode_id = "node a"\n'), '/etc/stbd/stbd.toml: [cluster] node_id: expected letters, digits, \'.\', \'_\' and \'-\' (at most 48, starting with a letter or digit), or "" for the host name, got "node a"');
  t.equal(errorOf('[cluster]\nstun_address = "stun-a.example.net"\n'), '/etc/stbd/stbd.toml: [cluster] stun_address: expected the public host:port STBs reach this node\'s STUN listener at (e.g. "stun-a.example.net:3478"), or "", got "stun-a.example.net"');
  t.equal(errorOf('[cwmp]\nlisten = ""\n'), '/etc/stbd/stbd.toml: [cwmp] listen: CPEs need a way in: give [cwmp] listen (HTTP), [cwmp] tls_listen (HTTPS), or both');
  t.equal(errorOf('[cwmp]\ntls_listen = "7549"\n'), '/etc/stbd/stbd.toml: [cwmp] tls_listen: expected "" (off), "IP:PORT" or "[IPv6]:PORT" (e.g. "0.0.0.0:7548"), got "7549"');
  t.equal(errorOf('[cwmp]\ntls_listen = "0.0.0.0:7549"\ntls_key_file = "acs.key"\n'), '/etc/stbd/stbd.toml: [cwmp] tls_cert_file: give both tls_cert_file and tls_key_file, or neither (the builtin CA then issues the server certificate)');
  t.equal(errorOf('[cwmp]\nclient_ca_file = "cpe-ca.pem"\n'), '/etc/stbd/stbd.toml: [cwmp] client_ca_file: is for the HTTPS endpoint: set [cwmp] tls_listen too');
  t.equal(errorOf('[cwmp]\ntrusted_proxies = "10.0.0.0/8"\n'), '/etc/stbd/stbd.toml: [cwmp] trusted_proxies: expected a list of networks such as ["10.0.0.0/8", "2001:db8::/32"], got "10.0.0.0/8"');
  t.equal(errorOf('[cwmp]\ntrusted_proxies = ["10.0.0.0/8", "lb.example.net"]\n'), '/etc/stbd/stbd.toml: [cwmp] trusted_proxies: expected networks such as "10.0.0.0/8", "2001:db8::/32" or one address, got "lb.example.net"');
  const c = parseConfig('[cwmp]\nlisten = ""\ntls_listen = "[::]:7549"\ntrusted_proxies = ["10.0.0.0/8", "2001:db8::7"]\n', 'f', '/srv');
  t.equal(c.cwmp.listen, undefined, '"" turns plain HTTP off');
  t.same(c.cwmp.tls_listen, { host: '::', port: 7549 });
  t.same(c.cwmp.trusted_proxies, [{ address: '10.0.0.0', prefix: 8, family: 'ipv4' }, { address: '2001:db8::7', prefix: 128, family: 'ipv6' }]);
});

t.test('[store] kind = "postgres": the URL is required, without a password in it; PostgreSQL keys need that kind', async (t) => {
  const pgStore = (keys: string) => `[store]\nkind = "postgres"\n${keys}`;
  const c = parseConfig(pgStore('url = "postgres://stbd@db.example.net:5433/stbd"\npassword_file = "pg.pass"\npool_size = 40\nstatement_timeout = "2s"\n'), 'f', '/etc/stbd');
  t.match(c.store, { kind: 'postgres', url: 'postgres://stbd@db.example.net:5433/stbd', password_file: '/etc/stbd/pg.pass', pool_size: 40, statement_timeout: 2000 });
  t.match(parseConfig('', 'f', '/srv').store, { kind: 'sqlite', url: '', password_file: undefined, pool_size: 10, statement_timeout: 5000 }, 'defaults');
  t.equal(parseConfig(pgStore('url = "postgres://stbd@/stbd?host=/run/postgresql"\n'), 'f', '/srv').store.url, 'postgres://stbd@/stbd?host=/run/postgresql', 'a Unix socket');

  const f = '/etc/stbd/stbd.toml: ';
  t.equal(errorOf(pgStore('')), `${f}[store] url: required when [store] kind = "postgres" (e.g. "postgres://stbd@db.example.net:5432/stbd")`);
  t.equal(errorOf(pgStore('url = "db.example.net:5432"\n')), `${f}[store] url: expected a URL such as "postgres://stbd@db.example.net:5432/stbd", got "db.example.net:5432"`);
  const noPassword = `${f}[store] url: holds a password: remove it from the URL and put it in a file named by [store] password_file (mode 0600)`;
  t.equal(errorOf(pgStore('url = "postgres://stbd:s3cret@db.example.net/stbd"\n')), noPassword);
  t.equal(errorOf(pgStore('url = "postgresql://stbd@db.example.net/stbd?sslmode=require&password=s3cret"\n')), noPassword);
  t.notMatch(errorOf(pgStore('url = "postgres://stbd:s3cret@db.example.net/stbd"\n')), /s3cret/, 'the password is not repeated');
  t.equal(errorOf(pgStore('url = "postgres://stbd@db.example.net:5432"\n')), `${f}[store] url: names no database (e.g. "postgres://stbd@db.example.net:5432/stbd")`);
  t.equal(errorOf('[store]\nurl = "postgres://stbd@db/stbd"\n'), `${f}[store] url: is for PostgreSQL: set [store] kind = "postgres" too, or remove it`);
  t.equal(errorOf('[store]\npassword_file = "pg.pass"\n'), `${f}[store] password_file: is for PostgreSQL: set [store] kind = "postgres" too, or remove it`);
  t.equal(errorOf('[store]\nkind = "mysql"\n'), `${f}[store] kind: expected one of "sqlite", "postgres", got "mysql"`);
  t.equal(errorOf(pgStore('url = "postgres://stbd@db/stbd"\npool_size = 0\n')), `${f}[store] pool_size: expected a whole number from 1 to 1000, got 0 (number)`);
  t.equal(errorOf(pgStore('url = "postgres://stbd@db/stbd"\nstatement_timeout = "5"\n')), `${f}[store] statement_timeout: expected a duration such as "500ms", "30s", "10m", "12h" or "30d", got "5"`);
});

t.test('stbd check-config on a PostgreSQL store: the key of what is wrong, the password file checked, the server named', async (t) => {
  const { at, check } = checkConfigIn(t.testdir());
  let r = await check('[store]\nkind = "postgres"\n');
  t.equal(r.code, 1);
  t.equal(r.stderr, `stbd: ${at('c.toml')}: [store] url: required when [store] kind = "postgres" (e.g. "postgres://stbd@db.example.net:5432/stbd")\n`);
  const config = `[store]\nkind = "postgres"\nurl = "postgres://stbd@db.example.net/stbd"\npassword_file = "${at('pg.pass')}"\n`;
  r = await check(config);
  t.equal(r.code, 1);
  t.equal(r.stderr, `stbd: ${at('c.toml')}: [store] password_file: ${at('pg.pass')}: cannot read it (ENOENT)\n`);
  writeFileSync(at('pg.pass'), 'pw with spaces\n', { mode: 0o640 });
  chmodSync(at('pg.pass'), 0o640);
  t.match((await check(config)).stderr, /\[store\] password_file: .*pg\.pass: mode 0640 lets others read or change it; chmod 600 it\n$/);
  chmodSync(at('pg.pass'), 0o600);
  r = await check(config);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /c\.toml: OK \(api 127\.0\.0\.1:7557, store postgres:\/\/stbd@db\.example\.net:5432\/stbd\)\n$/);
  writeFileSync(at('pg.pass'), '\n');
  t.match((await check(config)).stderr, /\[store\] password_file: .*pg\.pass: the first line, the password, is empty\n$/);
});

t.test('a missing file is named', async (t) => {
  t.throws(() => loadConfig('/nonexistent/stbd.toml'), { message: '/nonexistent/stbd.toml: cannot read the file (ENOENT)' });
});

t.test('durations and listen addresses', async (t) => {
  t.equal(parseDuration('30s'), 30_000);
  t.equal(parseDuration('10m'), 600_000);
  t.equal(parseDuration('30d'), 30 * 86_400_000);
  t.equal(parseDuration('500ms'), 500);
  for (const bad of ['30', 's', '1.5s', '-1s', '30 s', '1w', '']) t.equal(parseDuration(bad), undefined, bad);
  t.same(parseListen('[::]:3478'), { host: '::', port: 3478 });
  t.same(parseListen('localhost:1'), { host: 'localhost', port: 1 });
  for (const bad of ['::1:3478', '[127.0.0.1]:1', '1.2.3.4', '1.2.3.4:', 'example.com:80']) t.equal(parseListen(bad), undefined, bad);
});

t.test('stbd check-config validates without starting', async (t) => {
  const dir = t.testdir({ 'good.toml': '[api]\nlisten = "127.0.0.1:7600"\n', 'bad.toml': '[api]\nlisten = "nowhere"\n' });
  const good = await run(STBD, ['check-config', '--config', join(dir, 'good.toml')]);
  t.equal(good.code, 0);
  t.match(good.stdout, /good\.toml: OK/);
  const bad = await run(STBD, ['check-config', '--config', join(dir, 'bad.toml')]);
  t.equal(bad.code, 1);
  t.equal(bad.stderr, `stbd: ${join(dir, 'bad.toml')}: [api] listen: expected "IP:PORT" or "[IPv6]:PORT" (e.g. "127.0.0.1:7557"), got "nowhere"\n`);
  const missing = await run(STBD, ['check-config', '--config', join(dir, 'none.toml')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /none\.toml: cannot read the file \(ENOENT\)/);
});

t.test('stbd check-config checks the files the config points to, naming each key', async (t) => {
  const { dir, at, check: config } = checkConfigIn(t.testdir());
  const http = `[cas]\nkind = "http"\nurl = "http://cas:1/"\ntoken_file = "${at('cas.token')}"\n`;
  let r = await config(http);
  t.equal(r.code, 1);
  t.equal(r.stderr, `stbd: ${at('c.toml')}: [cas] token_file: ${at('cas.token')}: cannot read it (ENOENT)\n`);
  writeFileSync(at('cas.token'), 'cas-token-0123456789\n', { mode: 0o644 });
  chmodSync(at('cas.token'), 0o644);
  r = await config(http);
  t.equal(r.stderr, `stbd: ${at('c.toml')}: [cas] token_file: ${at('cas.token')}: mode 0644 lets others read or change it; chmod 600 it\n`);
  chmodSync(at('cas.token'), 0o600);
  t.equal((await config(http)).code, 0, 'a private, non-empty token is fine');
  writeFileSync(at('cas.token'), '\n');
  t.match((await config(http)).stderr, /\[cas\] token_file: .*: the token is empty or shorter than 16 characters/);

  // Every problem at once, each with its key.
  r = await config(
    [
      `[ca]\nkind = "http"\nurl = "http://ca:1/"\ntoken_file = "${at('ca.token')}"\nmaster_key_file = "${at('master.key')}"\ncreate_master_key = false`,
      `[certs]\ntls_cert_file = "${at('tls.crt')}"\ntls_key_file = "${at('tls.key')}"`,
      `[cwmp]\nbootstrap_credentials_file = "${at('boot.creds')}"\ntls_listen = "127.0.0.1:7549"\ntls_cert_file = "${at('acs.crt')}"\ntls_key_file = "${at('acs.key')}"\nclient_ca_file = "${at('cpe-ca.pem')}"`,
    ].join('\n') + '\n',
  );
  t.equal(r.code, 1);
  for (const key of ['[ca] token_file', '[ca] master_key_file', '[cwmp] bootstrap_credentials_file', '[certs] tls_key_file', '[certs] tls_cert_file', '[cwmp] tls_key_file', '[cwmp] tls_cert_file', '[cwmp] client_ca_file']) {
    t.match(r.stderr, new RegExp(`: ${key.replace(/[[\]]/g, '\\$&')}: ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\S+: cannot read it \\(ENOENT\\)\n`), key);
  }
});

t.test('stbd refuses to start on a bad config, naming the key', async (t) => {
  const dir = t.testdir({ 'bad.toml': '[log]\nlevel = 3\n' });
  const r = await run(STBD, ['--config', join(dir, 'bad.toml')]);
  t.equal(r.code, 1);
  t.equal(r.stderr, `stbd: ${join(dir, 'bad.toml')}: [log] level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got 3 (number)\n`);
});

t.test('docs/configuration.md documents every key', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  for (const [section, keys] of Object.entries(configSchema)) {
    for (const key of Object.keys(keys)) t.ok(doc.includes(`\`[${section}] ${key}\``), `[${section}] ${key}`);
  }
});

t.test('stbd: a usage error is one line with the help hint (exit 2); --help has examples and the exit codes', async (t) => {
  const bad = await run(STBD, ['--bogus']);
  t.equal(bad.code, 2);
  t.equal(bad.stderr, "stbd: unknown option '--bogus'; see 'stbd --help'\n");
  const sub = await run(STBD, ['check-config', '--nope']);
  t.equal(sub.stderr, "stbd: unknown option '--nope'; see 'stbd check-config --help'\n");
  const help = await run(STBD, ['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /\nExamples:\n {2}stbd\s/);
  t.match(help.stdout, /\nExit codes: 0 ok .*1 it could not start .*2 the command line was wrong/s);
});
