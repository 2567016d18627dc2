import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** Paces work in slices of loop time (WorkSlices): resolves at once while this turn has time left. */
export interface Pace {
  next(): Promise<void>;
}

/** The response closed before the body was written (the device went away, or idle_timeout cut it). */
export class BodyCutError extends Error {
  constructor() {
    super('the response closed before the body was written');
    this.name = 'BodyCutError';
  }
}

/**
 * Writes `chunks` to `res` and ends it, each chunk after `pace` gives a slice: hundreds of responses whose
 * sockets all turn writable at once (a campaign's fetches) would otherwise write for as long as the kernel
 * takes bytes, in one turn of the loop, while a keepalive waits. Waits for 'drain' when `res` says so.
 * `count` is told each chunk's size as it is handed over. @throws BodyCutError
 */
export async function writeBody(res: Writable, chunks: Iterable<Buffer> | AsyncIterable<Buffer>, pace: Pace, count: (bytes: number) => void): Promise<void> {
  for await (const chunk of chunks) {
    await pace.next();
    if (res.destroyed) throw new BodyCutError();
    count(chunk.length);
    if (!res.write(chunk)) await drained(res);
  }
  res.end();
  try {
    await finished(res);
  } catch {
    throw new BodyCutError();
  }
}

/** `buffer` from `start` to `end` (inclusive) in parts of `chunkBytes`: views, no copies. */
export function* partsOf(buffer: Buffer, start: number, end: number, chunkBytes: number): Generator<Buffer> {
  for (let at = start; at <= end; at += chunkBytes) yield buffer.subarray(at, Math.min(at + chunkBytes, end + 1));
}

function drained(res: Writable): Promise<void> {
  // Closed meanwhile: 'close' was emitted already.
  if (res.destroyed) return Promise.reject(new BodyCutError());
  if (!res.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new BodyCutError());
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
