/**
 * bench:import — how long `stbctl devices import` takes for N rows (default 100,000), end to end:
 * CSV upload, parsing, validation, secret generation and one SQLite transaction in the real daemon.
 * Baseline, run in the same invocation: the same rows inserted straight into SQLite with one
 * prepared statement in one transaction (the floor no importer can beat).
 *
 *   npm run bench:import [-- ROWS]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../src/store/database.js';
import { run, spawnDaemon, STBCTL, writeTestConfig } from '../test/helpers/daemon.js';

const rows = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'stbd-bench-import-'));
const header = 'id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password';
const ids = Array.from({ length: rows }, (_, i) => `00259E-BenchSTB-${String(i).padStart(8, '0')}`);
const csv = join(dir, 'devices.csv');
writeFileSync(csv, `${header}\n${ids.map((id) => `${id},,,,,,`).join('\n')}\n`);

async function baseline(): Promise<number> {
  const db = openDatabase(join(dir, 'baseline.db'), { synchronous: 'normal', busyTimeoutMs: 5000 });
  const insert = db.prepare('INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const secret = 'x'.repeat(24);
  const t0 = performance.now();
  db.transaction(() => {
    for (const id of ids) insert.run(id, id, secret, id, secret, id, secret, 0, 0);
  })();
  const ms = performance.now() - t0;
  db.close();
  return ms;
}

async function throughStbctl(): Promise<number> {
  const config = writeTestConfig(dir, { log: { level: 'info' } });
  const daemon = await spawnDaemon(config);
  try {
    const t0 = performance.now();
    const r = await run(STBCTL, ['--config', config, '--api', daemon.url, 'devices', 'import', csv, '--discard-generated', '--json']);
    const ms = performance.now() - t0;
    if (r.code !== 0) throw new Error(`import failed: ${r.stderr}${r.stdout}`);
    return ms;
  } finally {
    await daemon.stop();
  }
}

try {
  const base = await baseline();
  const full = await throughStbctl();
  const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s (${Math.round(rows / (ms / 1000)).toLocaleString('en')} rows/s)`;
  console.log(`rows:                          ${rows.toLocaleString('en')}`);
  console.log(`baseline (raw SQLite insert):  ${fmt(base)}`);
  console.log(`stbctl devices import:         ${fmt(full)}`);
  console.log(`ratio import / baseline:       ${(full / base).toFixed(1)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
