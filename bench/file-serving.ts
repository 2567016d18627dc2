/**
 * File serving measured as bench:files and bench:campaign do: the load generator (bench/file-load.ts)
 * on core 1 against a minimal Node static file server on core 0 (the baseline), or against given URLs.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { FileLoadArgs, FileLoadResult } from './file-load.js';
import { helperThreadsOnCore, nodeScript, onCore, start } from './processes.js';

/** `concurrency` clients fetching `urls` (client i takes urls[i mod n]) for `durationMs`. */
export async function fileLoad(urls: readonly string[], concurrency: number, durationMs: number): Promise<FileLoadResult> {
  const args: FileLoadArgs = { urls, concurrency, durationMs };
  const proc = start(onCore(1, [...nodeScript('file-load.ts'), JSON.stringify(args)]));
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  await once(proc, 'exit');
  return JSON.parse(out.trim().split('\n').at(-1)!) as FileLoadResult;
}

/**
 * The same load against bench/minimal-file-server.ts serving the file at `path`, on core 0; `helpers`: where its
 * threads other than the main one run, as the stbd it is compared with has them (HELPER_THREADS).
 */
export async function minimalFileServing(path: string, concurrency: number, durationMs: number, helpers: 'core0' | 'core1'): Promise<FileLoadResult> {
  const minimal = start(onCore(0, [...nodeScript('minimal-file-server.ts'), path]));
  const unwatch = helpers === 'core1' ? helperThreadsOnCore(minimal.pid!, 1) : () => {};
  const [line] = (await once(createInterface({ input: minimal.stdout! }), 'line')) as [string];
  const name = path.split('/').at(-1)!;
  try {
    return await fileLoad([`http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}/${name}`], concurrency, durationMs);
  } finally {
    unwatch();
    minimal.kill('SIGKILL');
  }
}
