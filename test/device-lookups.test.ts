import t from 'tap';
import { DeviceLookups, type Waiting } from '../src/keepalive/device-lookups.js';
import { UnknownUsernames } from '../src/keepalive/unknown-usernames.js';

/** A store that answers when told to, counting its queries. */
function setup(known: Record<string, string>, maxNames = 3, perName = 2) {
  let now = 0;
  const asked: string[] = [];
  const answers: (() => void)[] = [];
  const held: string[] = [];
  const replayed: string[] = [];
  const errors: unknown[] = [];
  let failing = false;
  const unknown = new UnknownUsernames(2, 1_000, () => now);
  const later: (() => void)[] = [];
  const lookups = new DeviceLookups<string, string>(
    {
      find: (names) => {
        asked.push(names.join(','));
        return new Promise((resolve, reject) => answers.push(() => (failing ? reject(new Error('store away')) : resolve(new Map(names.filter((n) => known[n]).map((n) => [n, known[n]!]))))));
      },
      later: (fn) => void later.push(fn),
      found: (name, device) => void held.push(`${name}=${device}`),
      replay: (w: Waiting<string>) => void replayed.push(`${w.from}:${w.datagram.toString()}`),
      unknown,
      onError: (err) => void errors.push(err),
    },
    maxNames,
    perName,
  );
  /** The turn ends (the names of it are asked for), then the store answers. */
  const answerAll = async () => {
    for (const l of later.splice(0)) l();
    for (const a of answers.splice(0)) a();
    await new Promise((r) => setImmediate(r));
  };
  return { lookups, asked, held, replayed, errors, answerAll, unknown, tick: (ms: number) => (now += ms), fail: () => (failing = true) };
}

t.test('datagrams from one name wait for one query, then are handled again in arrival order', async (t) => {
  const s = setup({ dev1: 'D1' });
  t.equal(s.lookups.defer('dev1', Buffer.from('a'), 'src1'), 'waiting');
  t.equal(s.lookups.defer('dev1', Buffer.from('b'), 'src2'), 'waiting');
  t.equal(s.lookups.defer('dev1', Buffer.from('c'), 'src3'), 'dropped', 'past the datagrams one name may have waiting');
  t.equal(s.lookups.pending, 1);
  await s.answerAll();
  t.same(s.asked, ['dev1'], 'one query for the name');
  t.same(s.held, ['dev1=D1'], 'the device is held before its datagrams come again');
  t.same(s.replayed, ['src1:a', 'src2:b']);
  t.equal(s.lookups.pending, 0);
});

t.test('a name the store does not know is refused without asking again, until it is forgotten', async (t) => {
  const s = setup({});
  s.lookups.defer('ghost', Buffer.from('x'), 'src');
  await s.answerAll();
  t.same(s.replayed, ['src:x'], 'the datagram is handled again, to be refused as an unknown name');
  t.equal(s.lookups.defer('ghost', Buffer.from('y'), 'src'), 'unknown', 'known unknown: refused at once');
  await s.answerAll();
  t.same(s.asked, ['ghost'], 'no second query');
  s.tick(1_000);
  t.equal(s.lookups.defer('ghost', Buffer.from('z'), 'src'), 'waiting', 'after its time the store is asked again');
  s.unknown.add('other');
  s.unknown.delete('other');
  t.equal(s.unknown.has('other'), false, 'a device registered meanwhile is no longer unknown');
});

t.test('the names of one turn are asked for in one read', async (t) => {
  const s = setup({ dev1: 'D1', dev2: 'D2' });
  for (const n of ['dev1', 'dev2', 'ghost']) s.lookups.defer(n, Buffer.from(n), 'src');
  await s.answerAll();
  t.same(s.asked, ['dev1,dev2,ghost'], 'one read');
  t.same(s.held, ['dev1=D1', 'dev2=D2']);
  t.same(s.replayed, ['src:dev1', 'src:dev2', 'src:ghost'], 'each datagram again, the unknown one to be refused');
});

t.test('what a stranger can make it hold is bounded', async (t) => {
  const s = setup({});
  t.same(['n1', 'n2', 'n3', 'n4'].map((n) => s.lookups.defer(n, Buffer.from(n), 'src')), ['waiting', 'waiting', 'waiting', 'dropped'], 'at most 3 names looked up at once');
  await s.answerAll();
  t.equal(s.unknown.size, 2, 'the unknown names remembered are capped; the oldest is forgotten first');
  t.equal(s.unknown.has('n1'), false);
  t.equal(s.unknown.has('n3'), true);
});

t.test('a store that fails: the waiting datagrams are dropped and the name is not taken for unknown', async (t) => {
  const s = setup({ dev1: 'D1' });
  s.fail();
  s.lookups.defer('dev1', Buffer.from('a'), 'src');
  await s.answerAll();
  t.same(s.replayed, [], 'dropped: the STB sends again');
  t.equal(s.errors.length, 1, 'the failure is reported');
  t.equal(s.lookups.defer('dev1', Buffer.from('b'), 'src'), 'waiting', 'asked again at its next keepalive');
});

t.test('a waiting datagram is a copy: the receive buffer may be reused', async (t) => {
  const s = setup({ dev1: 'D1' });
  const buf = Buffer.from('abc');
  s.lookups.defer('dev1', buf, 'src');
  buf.fill(0);
  await s.answerAll();
  t.same(s.replayed, ['src:abc']);
});
