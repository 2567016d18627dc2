import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DiskCheck } from '../src/files/disk-check.js';
import { CorruptFileError } from '../src/files/file-cache.js';
import { FileStore } from '../src/files/file-store.js';

/**
 * A file too large for the file cache is checked on disk before it is streamed: hashed once, and again only
 * when its bytes change on disk. Real files in a temporary directory; reads and slices counted.
 */
function harness(t: { testdir(): string }) {
  const dir = t.testdir();
  const store = new FileStore(dir);
  const reads: string[] = [];
  let failNextRead = false;
  let slices = 0;
  const check = new DiskCheck({
    stamp: (name) => store.stamp(name),
    read: (name, start, end) => {
      reads.push(name);
      if (failNextRead) {
        failNextRead = false;
        throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
      }
      return store.read(name, start, end);
    },
    pace: { next: async () => void slices++ },
  });
  /** Writes `bytes` as a new inode (a temporary file renamed into place, as a restore from backup does). */
  const put = (name: string, bytes: Buffer) => {
    writeFileSync(join(dir, `${name}.tmp`), bytes);
    renameSync(join(dir, `${name}.tmp`), join(dir, name));
  };
  const key = (name: string, bytes: Buffer) => ({ storedName: name, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  return { check, put, key, reads, slices: () => slices, failRead: () => void (failNextRead = true) };
}

const image = Buffer.alloc(300_000, 7);

t.test('an unchanged file is read once, however many fetches check it, at once or later; in slices of loop time', async (t) => {
  const h = harness(t);
  h.put('fw', image);
  const fw = h.key('fw', image);
  await Promise.all([h.check.check(fw), h.check.check(fw), h.check.check(fw)]);
  await h.check.check(fw);
  t.same(h.reads, ['fw']);
  t.ok(h.slices() >= 300_000 / (64 * 1024), 'a slice asked for each chunk hashed');
});

t.test('bytes changed on disk are refused, without a read per fetch; restored, the file passes again', async (t) => {
  const h = harness(t);
  h.put('fw', image);
  const fw = h.key('fw', image);
  await h.check.check(fw);
  const altered = Buffer.from(image);
  altered.writeUInt8(altered.readUInt8(150_000) ^ 1, 150_000);
  h.put('fw', altered);
  const corrupt = new CorruptFileError('fw', 'do not match the SHA-256 recorded');
  await t.rejects(h.check.check(fw), corrupt);
  await t.rejects(h.check.check(fw), corrupt, 'the verdict holds while the bytes stay as they are');
  t.same(h.reads, ['fw', 'fw']);
  h.put('fw', image);
  await h.check.check(fw);
  t.same(h.reads, ['fw', 'fw', 'fw']);
});

t.test('a shorter or longer file than recorded is refused and says which', async (t) => {
  const h = harness(t);
  h.put('short', image.subarray(0, 1000));
  await t.rejects(h.check.check(h.key('short', image)), new CorruptFileError('short', 'are 1000 bytes, not the 300000 recorded'));
  h.put('long', Buffer.concat([image, Buffer.from('x')]));
  await t.rejects(h.check.check(h.key('long', image)), new CorruptFileError('long', 'are more than the 300000 bytes recorded'));
  h.put('empty', Buffer.alloc(0));
  await h.check.check(h.key('empty', Buffer.alloc(0)));
});

t.test('a read that fails is no verdict: the next fetch reads again; a missing file is an error each time', async (t) => {
  const h = harness(t);
  h.put('fw', image);
  const fw = h.key('fw', image);
  h.failRead();
  await t.rejects(h.check.check(fw), { code: 'EIO' });
  await h.check.check(fw);
  t.same(h.reads, ['fw', 'fw']);
  await t.rejects(h.check.check(h.key('gone', image)), { code: 'ENOENT' });
});
