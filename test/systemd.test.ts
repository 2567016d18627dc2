import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { ROOT } from './helpers/daemon.js';

const unit = readFileSync(join(ROOT, 'systemd', 'stbd.service'), 'utf8');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

t.test('the unit runs stbd with the production config, as its own user, restarting on failure', async (t) => {
  for (const line of [
    'ExecStart=/opt/stbd/bin/stbd --config /etc/stbd/stbd.toml',
    'User=stbd',
    'StateDirectory=stbd',
    'Restart=on-failure',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'CapabilityBoundingSet=',
    'SystemCallFilter=@system-service',
  ]) {
    t.ok(unit.split('\n').includes(line), line);
  }
  t.match(unit, /^RestrictAddressFamilies=AF_INET AF_INET6 /m);
});

t.test('the production config is valid and keeps state in the StateDirectory', async (t) => {
  const c = loadConfig(join(ROOT, 'systemd', 'stbd.toml'));
  t.equal(c.store.path, '/var/lib/stbd/stbd.db');
  t.equal(c.api.token_file, '/etc/stbd/api.token', 'readable by the admin group');
  t.equal(c.ca.master_key_file, '/run/credentials/stbd.service/master.key', 'the credential the unit loads');
  t.equal(c.ca.create_master_key, false);
  t.ok(unit.split('\n').includes('LoadCredential=master.key:/etc/stbd/master.key'));
  t.same(c.api.listen, { host: '127.0.0.1', port: 7557 });
});

t.test('systemd accepts the unit, and rates its exposure as low', { skip: hasAnalyze ? false : 'systemd-analyze is not installed (apt-get install systemd)' }, async (t) => {
  // verify checks that ExecStart exists: point it at this checkout.
  const file = join(t.testdir(), 'stbd.service');
  writeFileSync(file, unit.replaceAll('/opt/stbd', ROOT));
  const verify = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  t.equal(verify.status, 0, verify.stderr);
  t.equal(verify.stderr, '', 'no warnings');
  const security = execFileSync('systemd-analyze', ['security', '--offline=true', file], { encoding: 'utf8' });
  const exposure = Number(/Overall exposure level for stbd\.service: ([\d.]+)/.exec(security)?.[1]);
  t.ok(exposure <= 2.0, `exposure ${exposure} <= 2.0`);
});
