import { X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, spawnDaemon, STBCTL, STBD, writeTestConfig } from './helpers/daemon.js';

t.test('stbctl certs: issue, list, show with versions, renew, revoke; errors and usage', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop());
  const ctl = (...args: string[]) => run(STBCTL, ['--config', config, '--api', daemon.url, ...args]);
  const json = async (...args: string[]) => {
    const r = await ctl(...args, '--json');
    return { ...r, out: r.stdout ? JSON.parse(r.stdout) : undefined };
  };
  for (const id of ['stb-1', 'stb-2']) t.equal((await ctl('device', 'add', id)).code, 0);

  t.test('issue', async (t) => {
    const j = await json('certs', 'issue', 'stb-1', '--id', 'media-1');
    t.equal(j.code, 0, j.stderr);
    t.same(Object.keys(j.out), ['certId', 'device', 'version', 'status', 'notAfter', 'renewAt']);
    t.match(j.out, { certId: 'media-1', device: 'stb-1', version: 1, status: 'valid', notAfter: /^\d{4}-/ });
    const r = await ctl('certs', 'issue', 'stb-2');
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^certificate cert-[A-Za-z0-9_-]+ issued for stb-2 \(version 1, valid until \d{4}-.+, renewal due \d{4}-.+\)\n$/);

    const dup = await ctl('certs', 'issue', 'stb-2', '--id', 'media-1');
    t.equal(dup.code, 1);
    t.match(dup.stderr, /^stbctl: certificate "media-1" already exists\n$/);
    const unknown = await json('certs', 'issue', 'nobody');
    t.equal(unknown.code, 1);
    t.match(unknown.out, { error: 'unknown-device', message: /nobody/ });
  });

  t.test('list', async (t) => {
    const r = await ctl('certs', 'list');
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    t.match(lines[0], /^ID\s+DEVICE\s+VERSION\s+STATUS\s+NOT AFTER\s+RENEW AT$/);
    t.equal(lines.length, 3);
    t.match(r.stdout, /\nmedia-1\s+stb-1\s+1\s+valid\s+\d{4}-/);
    const all = await json('certs', 'list');
    t.equal(all.out.length, 2);
    t.match(all.out[0], { id: String, device: String, version: 1, status: 'valid', serial: String, notBefore: String, notAfter: String, renewAt: String, createdAt: String, updatedAt: String, noticeTask: null });
    const one = await json('certs', 'list', '--device', 'stb-1');
    t.same(one.out.map((c: { id: string }) => c.id), ['media-1']);
    t.same((await json('certs', 'list', '--device', 'nobody')).out, []);
  });

  t.test('renew, show with the version history, revoke', async (t) => {
    const renewed = await json('certs', 'renew', 'media-1');
    t.equal(renewed.code, 0, renewed.stderr);
    t.match(renewed.out, { id: 'media-1', version: 2, status: 'valid' });
    const text = await ctl('certs', 'renew', 'media-1');
    t.match(text.stdout, /^certificate media-1 renewed: version 3, valid until \d{4}-/);

    const shown = await ctl('certs', 'show', 'media-1');
    t.equal(shown.code, 0, shown.stderr);
    t.match(shown.stdout, /^id\s+media-1\ndevice\s+stb-1\nstatus\s+valid\nversion\s+3\n/);
    t.match(shown.stdout, /\nnot after\s+\d{4}-.*\nrenew at\s+\d{4}-/);
    t.match(shown.stdout, /\nversions:\nVERSION\s+SERIAL\s+NOT BEFORE\s+NOT AFTER\s+ISSUED\s+REASON\n1\s+[0-9a-f]+\s.*issue\n2\s.*renewal\n3\s.*renewal\n$/);
    const j = await json('certs', 'show', 'media-1');
    t.match(j.out, { id: 'media-1', version: 3, status: 'valid', renewAt: String });
    t.same(j.out.versions.map((v: { version: number; reason: string }) => [v.version, v.reason]), [[1, 'issue'], [2, 'renewal'], [3, 'renewal']]);
    t.match(j.out.versions[0], { serial: /^[0-9a-f]+$/, notBefore: String, notAfter: String, issuedAt: String });

    const revoked = await ctl('certs', 'revoke', 'media-1');
    t.equal(revoked.code, 0, revoked.stderr);
    t.equal(revoked.stdout, 'certificate media-1 revoked (stb-1, version 3)\n');
    t.match((await json('certs', 'show', 'media-1')).out, { status: 'revoked' });
    t.match((await json('certs', 'revoke', 'media-1')).out, { id: 'media-1', status: 'revoked' }, 'revoking again is no error');
    const again = await json('certs', 'renew', 'media-1');
    t.equal(again.code, 1);
    t.match(again.out, { error: 'revoked' });
  });

  t.test('an unknown certificate: exit 1', async (t) => {
    for (const cmd of ['show', 'renew', 'revoke']) {
      const r = await ctl('certs', cmd, 'nope');
      t.equal(r.code, 1, cmd);
      t.equal(r.stderr, 'stbctl: no certificate "nope"\n');
      const j = await json('certs', cmd, 'nope');
      t.same(j.out, { error: 'not-found', message: 'no certificate "nope"' });
    }
  });

  t.test('usage errors: exit 2', async (t) => {
    for (const args of [['certs', 'show'], ['certs', 'issue'], ['certs', 'show', ''], ['certs', 'issue', 'stb-1', '--id', ' '], ['certs', 'list', 'extra'], ['certs', 'frobnicate'], ['certs', 'renew', 'a', 'b']]) {
      const r = await ctl(...args);
      t.equal(r.code, 2, args.join(' '));
    }
    const help = await ctl('certs', '--help');
    t.equal(help.code, 0);
    for (const cmd of ['list', 'show', 'issue', 'renew', 'revoke']) t.match(help.stdout, new RegExp(`\\n  ${cmd} `));
  });
});

t.test('stbd ca init: creates the builtin CA once; prints it; bad config or key: one line, exit 1', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const first = await run(STBD, ['ca', 'init', '--config', config]);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, new RegExp(`^builtin CA created in ${join(dir, 'stbd.db').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
  t.match(first.stdout, /\nsubject +CN=stbd builtin CA\nserial +[0-9A-F]+\nnot before +\d{4}-\d\d-\d\dT[\d:.]+Z\nnot after +\d{4}-.+Z\nsha-256 +([0-9A-F]{2}:){31}[0-9A-F]{2}\n\n-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/);
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/.exec(first.stdout)?.[0] ?? '';
  t.equal(new X509Certificate(pem).fingerprint256, /sha-256 +(\S+)/.exec(first.stdout)?.[1], 'the PEM is that certificate');
  const fingerprint = /sha-256 +(\S+)/.exec(first.stdout)?.[1];

  // A daemon on the same database uses that CA; ca init beside it only reads.
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop());
  const second = await run(STBD, ['--config', config, 'ca', 'init']);
  t.equal(second.code, 0, second.stderr);
  t.match(second.stdout, /^builtin CA already existed in /);
  t.equal(/sha-256 +(\S+)/.exec(second.stdout)?.[1], fingerprint, 'the same CA');
  t.equal(second.stdout.split('\n').slice(1).join('\n'), first.stdout.split('\n').slice(1).join('\n'));
  const show = await run(STBCTL, ['--config', config, '--api', daemon.url, 'ca', 'show', '--pem']);
  t.equal(show.code, 0, show.stderr);
  t.equal(show.stdout, pem, 'stbctl ca show --pem: only the PEM');
  const full = await run(STBCTL, ['--config', config, '--api', daemon.url, 'ca', 'show']);
  t.equal(full.stdout, first.stdout.split('\n').slice(1).join('\n'), 'stbctl ca show: the same facts and PEM as ca init');

  const missing = await run(STBD, ['ca', 'init', '--config', join(dir, 'nope.toml')]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /^stbd: .*nope\.toml: cannot read the file \(ENOENT\)\n$/);
  writeFileSync(join(dir, 'bad.toml'), '[ca]\nmaster_key = "x"\n');
  const bad = await run(STBD, ['ca', 'init', '--config', join(dir, 'bad.toml')]);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /^stbd: .*bad\.toml: \[ca\] master_key: unknown key/);
  t.equal(bad.stderr.split('\n').length, 2, 'one line');

  for (const sub of ['k2', 'k3']) mkdirSync(join(dir, sub));
  const otherKey = writeTestConfig(join(dir, 'k2'), { store: { path: join(dir, 'stbd.db') } });
  const wrongKey = await run(STBD, ['ca', 'init', '--config', otherKey]);
  t.equal(wrongKey.code, 1);
  t.match(wrongKey.stderr, /^stbd: the builtin CA in .* cannot be opened with the master key .*k2\/master\.key \(a different key sealed it\)\n$/);
  const noKey = writeTestConfig(join(dir, 'k3'), { ca: { master_key_file: join(dir, 'k3', 'none.key'), create_master_key: false } });
  const unreadable = await run(STBD, ['ca', 'init', '--config', noKey]);
  t.equal(unreadable.code, 1);
  t.match(unreadable.stderr, /^stbd: master key file .*none\.key: cannot read it \(ENOENT\)\n$/);
});
