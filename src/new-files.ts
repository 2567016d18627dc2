import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Remembers which of a start's files (database, tokens, keys) do not exist yet, so that a start that
 * fails can take back what it created and leave the directory as the operator had it.
 */
export class NewFiles {
  readonly #files: string[];
  readonly #dirs: string[];

  constructor(paths: readonly string[]) {
    this.#files = paths.filter((p) => !existsSync(p));
    this.#dirs = [...new Set(paths.map((p) => dirname(p)))].filter((d) => !existsSync(d));
  }

  /** Removes the files created since, and the directories created since if they are empty. */
  discard(): void {
    for (const f of this.#files) {
      try {
        rmSync(f, { force: true });
      } catch {
        // Its directory cannot hold it (ENOTDIR, EACCES): nothing was created there.
      }
    }
    for (const d of this.#dirs) {
      try {
        if (readdirSync(d).length === 0) rmdirSync(d);
      } catch {
        // Not there, or not ours to remove.
      }
    }
  }
}
