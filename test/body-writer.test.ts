import { Writable } from 'node:stream';
import t from 'tap';
import { BodyCutError, partsOf, writeBody } from '../src/files/body-writer.js';

/**
 * A file body is written one chunk per grant of the pace (the loop's work slices), so that a slice's end
 * stops every response's writing until the next turn; a closed response stops it for good. The pace is
 * played by hand: each `grant()` lets one waiting chunk go.
 */
function handPace() {
  const waiting: (() => void)[] = [];
  return {
    pace: { next: () => new Promise<void>((resolve) => waiting.push(resolve)) },
    /** Lets the writer's continuations run up to its next wait, lets one chunk go, and again. */
    grant: async () => {
      await settle();
      waiting.shift()?.();
      await settle();
    },
    get waiting() {
      return waiting.length;
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function sink(highWaterMark = 1024) {
  const got: Buffer[] = [];
  const res = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, done) {
      got.push(chunk);
      done();
    },
  });
  return { res, got };
}

t.test('parts of a buffer are views of it, the range inclusive', async (t) => {
  const b = Buffer.from('0123456789');
  t.same([...partsOf(b, 2, 8, 3)].map(String), ['234', '567', '8']);
  t.same([...partsOf(b, 0, 9, 10)].map(String), ['0123456789']);
  const [first] = partsOf(b, 0, 9, 4);
  t.equal(first!.buffer, b.buffer, 'no copy');
});

t.test('one chunk per grant of the pace, every byte counted, then the response ends', async (t) => {
  const p = handPace();
  const { res, got } = sink();
  let counted = 0;
  const done = writeBody(res, partsOf(Buffer.from('abcdefghij'), 0, 9, 4), p.pace, (n) => (counted += n));
  await settle();
  t.same(got.map(String), [], 'nothing before the first grant');
  t.equal(p.waiting, 1);
  await p.grant();
  t.same(got.map(String), ['abcd']);
  t.equal(counted, 4);
  await p.grant();
  t.same(got.map(String), ['abcd', 'efgh'], 'the next chunk waits for the next grant');
  t.equal(res.writableEnded, false);
  await p.grant();
  await done;
  t.same(got.map(String), ['abcd', 'efgh', 'ij']);
  t.equal(counted, 10);
  t.equal(res.writableFinished, true);
});

t.test('a response closed meanwhile stops the body (BodyCutError), waiting for drain or not', async (t) => {
  const p = handPace();
  const { res, got } = sink();
  const done = writeBody(res, partsOf(Buffer.alloc(100), 0, 99, 10), p.pace, () => {});
  await p.grant();
  res.destroy();
  await p.grant();
  await t.rejects(done, BodyCutError);
  t.equal(got.length, 1);

  // A slow reader: past the high-water mark the writer waits for 'drain', and a close ends that wait.
  const slow = new Writable({ highWaterMark: 5, write: () => {} });
  const free = { next: () => Promise.resolve() };
  const stuck = writeBody(slow, partsOf(Buffer.alloc(100), 0, 99, 10), free, () => {});
  await settle();
  t.equal(slow.writableLength, 10, 'one chunk handed over, then waiting for drain');
  slow.destroy();
  await t.rejects(stuck, BodyCutError);
});
