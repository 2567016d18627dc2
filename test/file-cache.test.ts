import { createHash } from 'node:crypto';
import t from 'tap';
import { CorruptFileError, FileCache, sha256OffLoop } from '../src/files/file-cache.js';

/**
 * The file server's cache: a file is read from disk once however many devices fetch it at the same time,
 * checked against what was recorded when it was added, and the whole stays within its size, the least
 * recently served going first. The disk is a map of names to bytes, with a count of reads.
 */
function harness(maxBytes: number) {
  // Every write to a name gives it a new stamp, as a new mtime or inode would.
  const files = new Map<string, Buffer>();
  const stamps = new Map<string, number>();
  let writes = 0;
  const disk = {
    set: (name: string, bytes: Buffer) => (files.set(name, bytes), stamps.set(name, ++writes)),
    delete: (name: string) => (files.delete(name), stamps.delete(name)),
  };
  const reads: string[] = [];
  const missing = (name: string) => Object.assign(new Error(`ENOENT ${name}`), { code: 'ENOENT' });
  const cache = new FileCache(
    {
      load: async (name) => {
        reads.push(name);
        const b = files.get(name);
        if (!b) throw missing(name);
        return b;
      },
      stamp: async (name) => {
        const s = stamps.get(name);
        if (s === undefined) throw missing(name);
        return String(s);
      },
      sha256: sha256OffLoop,
    },
    maxBytes,
  );
  const add = (name: string, bytes: Buffer) => {
    disk.set(name, bytes);
    return { storedName: name, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  };
  return { cache, disk, reads, add };
}

t.test('a file is read once for every request of it, even those that came while it loaded', async (t) => {
  const h = harness(1000);
  const a = h.add('a', Buffer.from('firmware a'));
  const [x, y] = await Promise.all([h.cache.get(a), h.cache.get(a)]);
  t.equal(x?.toString(), 'firmware a');
  t.equal(y, x, 'the same bytes');
  t.equal((await h.cache.get(a))?.toString(), 'firmware a');
  t.same(h.reads, ['a']);
  t.equal(h.cache.bytes, 10);
});

t.test('past its size the least recently served file goes; a file larger than the cache is not kept', async (t) => {
  const h = harness(25);
  const a = h.add('a', Buffer.alloc(10, 1));
  const b = h.add('b', Buffer.alloc(10, 2));
  const c = h.add('c', Buffer.alloc(10, 3));
  await h.cache.get(a);
  await h.cache.get(b);
  await h.cache.get(a);
  await h.cache.get(c);
  t.equal(h.cache.bytes, 20, 'within 25 bytes');
  await h.cache.get(a);
  t.same(h.reads, ['a', 'b', 'c'], 'a was served more recently than b: b went');
  await h.cache.get(b);
  t.same(h.reads, ['a', 'b', 'c', 'b']);
  t.equal(h.cache.get(h.add('big', Buffer.alloc(26))), undefined, 'larger than the cache: streamed by the caller');
  t.equal(harness(0).cache.get(a), undefined, 'cache_size 0: nothing kept');
  t.equal(h.cache.bytes, 20);
});

t.test('bytes that are not the file recorded are refused, and a failed read is tried again next time', async (t) => {
  const h = harness(1000);
  const a = h.add('a', Buffer.from('the real image'));
  h.disk.set('a', Buffer.from('the real imagf'));
  await t.rejects(h.cache.get(a)!, new CorruptFileError('a', 'do not match the SHA-256 recorded'));
  h.disk.set('a', Buffer.from('the real'));
  await t.rejects(h.cache.get(a)!, { name: 'CorruptFileError', message: 'the stored bytes a are 8 bytes, not the 14 recorded' });
  h.disk.delete('a');
  await t.rejects(h.cache.get(a)!, { code: 'ENOENT' });
  t.equal(h.cache.bytes, 0, 'nothing held for a failed load');
  h.disk.set('a', Buffer.from('the real image'));
  t.equal((await h.cache.get(a))?.toString(), 'the real image');
  t.same(h.reads, ['a', 'a', 'a'], 'each new version of the bytes read once (the missing file failed at its stat)');
});

t.test('corrupt bytes are not read again for every fetch: refused until they change on disk', async (t) => {
  const h = harness(1000);
  const a = h.add('a', Buffer.from('the real image'));
  h.disk.set('a', Buffer.from('the real imagf'));
  for (let i = 0; i < 5; i++) await t.rejects(h.cache.get(a)!, new CorruptFileError('a', 'do not match the SHA-256 recorded'));
  t.same(h.reads, ['a'], 'one read for five fetches of the same corrupt bytes');
  t.equal(h.cache.bytes, 0);
  h.disk.set('a', Buffer.from('the real image'));
  t.equal((await h.cache.get(a))?.toString(), 'the real image', 'the operator put the right bytes back: served');
  t.same(h.reads, ['a', 'a']);
  t.equal((await h.cache.get(a))?.toString(), 'the real image');
  t.same(h.reads, ['a', 'a'], 'and held from then on');
});
