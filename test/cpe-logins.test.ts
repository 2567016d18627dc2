import { join } from 'node:path';
import t from 'tap';
import { SealedBox } from '../src/ca/sealed-box.js';
import { DeviceRegistry } from '../src/devices/registry.js';
import { SqliteDeviceRepo } from '../src/devices/sqlite-device-repo.js';
import { CpeLogins } from '../src/management/cpe-logins.js';
import { CpeHttpAuth, type Credentials, type LoginCheck } from '../src/management/http-auth.js';
import { openDatabase } from '../src/store/database.js';

/** The real CpeHttpAuth, with a record of which passwords were checked. */
class RecordingAuth extends CpeHttpAuth {
  readonly checked: string[] = [];
  override check(credentials: Credentials, method: string, uri: string): LoginCheck {
    const check = super.check(credentials, method, uri);
    return {
      matches: (password) => {
        this.checked.push(password);
        return check.matches(password);
      },
      admit: () => check.admit(),
    };
  }
}

const basic = (username: string, password: string): Credentials => ({ scheme: 'basic', username, password });

t.test('an unknown username costs what a wrong password costs: the same checks run, against a decoy', async (t) => {
  const db = openDatabase(join(t.testdir(), 'stbd.db'), { synchronous: 'normal', busyTimeoutMs: 1000 });
  t.teardown(() => db.close());
  const registry = await DeviceRegistry.open(new SqliteDeviceRepo(db, new SealedBox(Buffer.alloc(32, 3))), { now: () => 0 }, () => 'generated-secret-0123', 1);
  await registry.create({ id: 'stb-1', cwmpPassword: 'stb-1-password' });
  const auth = new RecordingAuth('stbd', () => 0);
  const logins = new CpeLogins({ auth, registry, bootstrap: new Map(), autoRegister: false });

  const wrong = await logins.authenticate(basic('stb-1', 'guess'), 'POST', '/');
  t.match(wrong, { ok: false, kind: 'credentials', reason: 'wrong credentials' });
  t.same(auth.checked, ['stb-1-password'], 'a wrong password: one check, against the device');
  auth.checked.length = 0;

  const unknown = await logins.authenticate(basic('nobody', 'guess'), 'POST', '/');
  t.match(unknown, { ok: false, kind: 'credentials', reason: 'unknown username' });
  t.equal(auth.checked.length, 1, 'an unknown user: one check too');
  const decoy = auth.checked[0]!;
  t.not(decoy, 'stb-1-password');
  t.ok(decoy.length >= 24, 'against a random decoy password');
  auth.checked.length = 0;
  await logins.authenticate(basic('someone-else', 'guess'), 'POST', '/');
  t.same(auth.checked, [decoy], 'the same decoy every time (per process)');
  t.notOk((await logins.authenticate(basic('nobody', decoy), 'POST', '/')).ok, 'the decoy itself logs nobody in');

  t.match(await logins.authenticate(basic('stb-1', 'stb-1-password'), 'POST', '/'), { ok: true, login: { kind: 'device', rotated: false } });
});
