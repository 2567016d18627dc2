import { timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadMasterKey } from '../ca/master-key.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CopyRefusedError } from '../store/copy/copy-end.js';
import { openCopySource, openCopyTarget, refuseSameStore } from '../store/copy/open-copy-ends.js';
import { storeName } from '../store/open-store.js';
import { copyStore } from '../store/copy/store-copy.js';
import { MIGRATIONS } from '../store/migrations.js';
import { copyProgress } from './copy-progress.js';
import { formatTable, plural } from './stbctl/output.js';

/**
 * The copied rows keep their secrets sealed under the source's master key: the target's config must name
 * the same key, or its stbd could open none of them (and would make a new key at start).
 * @throws CopyRefusedError; MasterKeyError when the source's key cannot be read
 */
function refuseOtherMasterKey(from: Config, to: Config): void {
  const [a, b] = [from.ca.master_key_file, to.ca.master_key_file];
  if (a === b) return;
  const key = loadMasterKey(a, false);
  const other = existsSync(b) ? loadMasterKey(b, false) : undefined;
  if (other && timingSafeEqual(key, other)) return;
  throw new CopyRefusedError(
    `${to.file}: [ca] master_key_file ${b} ${other ? 'holds another key than' : 'does not exist; it must hold the key of'} ${from.file} (${a}), which sealed the secrets being copied: install that file there (mode 0600), then copy`,
  );
}

export interface StoreCopyIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly now?: () => number;
}

/**
 * `stbd store copy --config OLD --to-config NEW`: every row of OLD's store into NEW's empty one, verified,
 * then a table of what was copied on stdout.
 */
export async function storeCopy(fromFile: string, toFile: string, io: StoreCopyIo): Promise<void> {
  const from = loadConfig(fromFile);
  const to = loadConfig(toFile);
  refuseSameStore(from.store, to.store);
  refuseOtherMasterKey(from, to);
  const source = await openCopySource(from.store);
  try {
    const target = await openCopyTarget(to.store, (message) => io.stderr.write(`stbd: target database: ${message}\n`));
    try {
      const progress = copyProgress(io.stderr, io.now);
      const tables = await copyStore(source, target, { schemaVersion: MIGRATIONS.at(-1)!.version, onProgress: (p) => progress.update(p) }).finally(() => progress.stop());
      const rows = tables.reduce((n, t) => n + t.rows, 0);
      io.stdout.write(`copied ${plural(rows, 'row')} in ${plural(tables.length, 'table')} from ${storeName(from.store)} to ${storeName(to.store)}; read back, every table has the same row count and checksum\n`);
      io.stdout.write(formatTable(['table', 'rows', 'checksum'], tables.map((t) => [t.name, String(t.rows), t.checksum])));
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}
