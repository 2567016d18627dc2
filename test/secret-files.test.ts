import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, STBD, writeTestConfig } from './helpers/daemon.js';
import { startInProcess } from './helpers/in-process.js';

const modeOf = (file: string) => statSync(file).mode & 0o777;

t.test('a database (or its WAL) others could read is made private at start, with a warning naming the file', async (t) => {
  const dir = t.testdir();
  await (await startInProcess(dir)).daemon.stop();
  const db = join(dir, 'stbd.db');
  chmodSync(db, 0o644);
  writeFileSync(`${db}-wal`, '');
  chmodSync(`${db}-wal`, 0o664);
  const d = await startInProcess(dir);
  t.teardown(() => d.daemon.stop());
  t.equal(modeOf(db), 0o600);
  t.equal(modeOf(`${db}-wal`), 0o600);
  const warnings = d.logText().split('\n').filter((l) => l.includes('let others read it'));
  t.match(warnings[0], `"level":40`);
  t.match(warnings[0], `database: ${db} had mode 0644, which let others read it; made 0600`);
  t.match(warnings[1], `database: ${db}-wal had mode 0664, which let others read it; made 0600`);
});

t.test('token files: the admin token may be readable by its group (the admins), no token by everyone; the BSS and media tokens by no one else', async (t) => {
  const dir = t.testdir();
  const token = (name: string, mode: number) => {
    writeFileSync(join(dir, name), 'a-token-of-thirty-two-characters\n');
    chmodSync(join(dir, name), mode);
  };
  token('api.token', 0o640);
  token('bss.token', 0o600);
  token('media.token', 0o600);
  const d = await startInProcess(dir);
  await d.daemon.stop();
  t.pass('the admin token shared with its group: accepted');

  token('api.token', 0o644);
  await t.rejects(startInProcess(dir), { name: 'SecretFileError', message: `[api] token_file: ${join(dir, 'api.token')}: mode 0644 lets others read or change it; chmod 640 it` });
  token('api.token', 0o600);
  token('bss.token', 0o640);
  await t.rejects(startInProcess(dir), { message: `[api] bss_token_file: ${join(dir, 'bss.token')}: mode 0640 lets others read or change it; chmod 600 it` });
  const checked = await run(STBD, ['check-config', '--config', writeTestConfig(dir)]);
  t.equal(checked.code, 1);
  t.match(checked.stderr, `[api] bss_token_file: ${join(dir, 'bss.token')}: mode 0640 lets others read or change it; chmod 600 it`, 'check-config says the same');
});
