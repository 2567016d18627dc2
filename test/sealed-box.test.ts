import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadMasterKey } from '../src/ca/master-key.js';
import { SealedBox, SealError } from '../src/ca/sealed-box.js';

t.test('seal and open, bound to a context', async (t) => {
  const box = new SealedBox(Buffer.alloc(32, 7));
  const secret = Buffer.from('-----BEGIN PRIVATE KEY-----\nMII...');
  const sealed = box.seal(secret, 'cert-1|stb-1|v1');
  t.notOk(sealed.includes(secret.subarray(0, 16)), 'no plaintext in the sealed bytes');
  t.same(box.open(sealed, 'cert-1|stb-1|v1'), secret);
  t.not(box.seal(secret, 'cert-1|stb-1|v1').toString('hex'), sealed.toString('hex'), 'a fresh IV every time');
  t.throws(() => box.open(sealed, 'cert-1|stb-2|v1'), SealError, 'another context does not open it');
  t.throws(() => new SealedBox(Buffer.alloc(32, 8)).open(sealed, 'cert-1|stb-1|v1'), SealError, 'another key does not');
  const tampered = Buffer.from(sealed);
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
  t.throws(() => box.open(tampered, 'cert-1|stb-1|v1'), SealError, 'a changed byte is detected');
  t.throws(() => box.open(Buffer.alloc(10), 'x'), SealError);
});

t.test('the master key file: created once, mode 0600, refused when others can read it', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'keys', 'master.key');
  const key = loadMasterKey(path, true);
  t.equal(key.length, 32);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.same(loadMasterKey(path, true), key, 'reused, not replaced');
  t.throws(() => loadMasterKey(join(dir, 'missing.key'), false), { name: 'MasterKeyError', message: /missing\.key: cannot read it \(ENOENT\)/ });
  chmodSync(path, 0o644);
  t.throws(() => loadMasterKey(path, false), { message: /mode 0644 lets others read or change it; chmod 600 it/ });
  writeFileSync(join(dir, 'short.key'), 'abcd\n', { mode: 0o600 });
  t.throws(() => loadMasterKey(join(dir, 'short.key'), false), { message: /expected 64 hexadecimal characters/ });
  t.match(readFileSync(path, 'utf8'), /^[0-9a-f]{64}\n$/);
});
