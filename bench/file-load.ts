/**
 * The download load of bench:files, run as a child process pinned to its own core: `concurrency` clients,
 * each with a keep-alive connection, GET the URLs (client i takes urls[i mod n]) one after another for
 * `durationMs`, reading every byte. Prints one JSON line (FileLoadResult).
 *
 *   node --import tsx bench/file-load.ts '<FileLoadArgs as JSON>'
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface FileLoadArgs {
  readonly urls: readonly string[];
  readonly concurrency: number;
  readonly durationMs: number;
}

export interface FileLoadResult {
  readonly fetches: number;
  readonly failed: number;
  readonly bytes: number;
  readonly ms: number;
  /** MiB/s of file bytes received. */
  readonly mibPerSec: number;
}

const args = JSON.parse(process.argv[2]!) as FileLoadArgs;
const agent = new Agent({ keepAlive: true, maxSockets: args.concurrency });
let fetches = 0;
let failed = 0;
let bytes = 0;

const fetchOnce = (url: string) =>
  new Promise<void>((resolve) => {
    const req = request(url, { agent }, (res) => {
      if (res.statusCode !== 200) failed++;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => {
        fetches++;
        resolve();
      });
      res.on('error', () => {
        failed++;
        resolve();
      });
    });
    req.on('error', () => {
      failed++;
      resolve();
    });
    req.end();
  });

const t0 = performance.now();
await Promise.all(
  Array.from({ length: args.concurrency }, async (_, i) => {
    const url = args.urls[i % args.urls.length]!;
    while (performance.now() - t0 < args.durationMs) await fetchOnce(url);
  }),
);
const ms = performance.now() - t0;
const result: FileLoadResult = { fetches, failed, bytes, ms, mibPerSec: bytes / 1024 ** 2 / (ms / 1000) };
process.stdout.write(`${JSON.stringify(result)}\n`);
agent.destroy();
