import cliProgress from 'cli-progress';
import type { CopyProgress } from '../store/copy/store-copy.js';

export interface ProgressReporter {
  update(p: CopyProgress): void;
  stop(): void;
}

const VERB = { copy: 'copying', verify: 'verifying' } as const;

/**
 * Shows a store copy's progress on `stream`: a bar for a person watching a terminal; elsewhere (a log, a
 * script) one plain line at most every `everyMs`, and one as each phase ends.
 */
export function copyProgress(stream: NodeJS.WriteStream, now: () => number = Date.now, everyMs = 5000): ProgressReporter {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar({ format: '{verb} {bar} {value}/{total} rows | {table} {tableRows}/{tableTotal}', stream, hideCursor: true }, cliProgress.Presets.shades_classic);
    let phase: CopyProgress['phase'] | undefined;
    return {
      update(p) {
        const payload = { verb: VERB[p.phase], table: p.table, tableRows: p.tableRows, tableTotal: p.tableTotal };
        if (p.phase !== phase) {
          if (phase) bar.stop();
          phase = p.phase;
          bar.start(p.total, p.rows, payload);
        } else {
          bar.update(p.rows, payload);
        }
      },
      stop: () => void (phase && bar.stop()),
    };
  }
  let printedAt = -Infinity;
  const line = (p: CopyProgress) => {
    stream.write(`stbd: ${VERB[p.phase]}: ${p.rows}/${p.total} rows (table ${p.table}: ${p.tableRows}/${p.tableTotal})\n`);
    printedAt = now();
  };
  return {
    // The last page of a phase brings its rows to the total.
    update: (p) => void ((p.rows === p.total || now() - printedAt >= everyMs) && line(p)),
    stop: () => undefined,
  };
}
