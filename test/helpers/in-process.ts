import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { FileCatalog } from '../../src/campaigns/file-source.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/load.js';
import { type RunningDaemon, startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log/logger.js';
import type { TimerHost } from '../../src/timer/timers.js';
import { type ConfigOverrides, writeTestConfig } from './daemon.js';

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  constructor(public ms = Date.parse('2026-01-01T00:00:00Z')) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface InProcessDaemon {
  readonly daemon: RunningDaemon;
  readonly url: string;
  readonly token: string;
  readonly clock: ManualClock;
  readonly timers: ManualTimers;
  /** Everything logged so far, as text (JSON lines). */
  logText(): string;
  /** fetch against the API with the admin token unless `token` says otherwise. */
  api(method: string, path: string, opts?: { json?: unknown; body?: string; contentType?: string; token?: string | null }): Promise<{ status: number; body: any }>;
}

/** Host timers that fire only when the test says so (together with a ManualClock, time moves by hand). */
export class ManualTimers implements TimerHost {
  #pending = new Map<number, () => void>();
  #next = 0;
  setTimeout(fn: () => void): unknown {
    const id = this.#next++;
    this.#pending.set(id, fn);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }
  /** Runs every timer armed so far (not those they arm in turn). */
  fire(): void {
    const due = [...this.#pending.values()];
    this.#pending.clear();
    for (const fn of due) fn();
  }
}

/** Starts the real daemon (the composition root) inside the test process, on ephemeral ports. */
export async function startInProcess(dir: string, overrides: ConfigOverrides = {}, extra: { files?: FileCatalog } = {}): Promise<InProcessDaemon> {
  const config = loadConfig(writeTestConfig(dir, overrides), dir);
  let logs = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  const clock = new ManualClock();
  const timers = new ManualTimers();
  const daemon = await startDaemon({ config, log: createLogger('debug', sink), clock, timerHost: timers, ...extra });
  const url = `http://127.0.0.1:${daemon.api.port}`;
  const token = readFileSync(config.api.token_file, 'utf8').trim();
  return {
    daemon,
    url,
    token,
    clock,
    timers,
    logText: () => logs,
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = {};
      const tok = opts.token === undefined ? token : opts.token;
      if (tok !== null) headers['authorization'] = `Bearer ${tok}`;
      let body: string | undefined;
      if (opts.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.json);
      } else if (opts.body !== undefined) {
        headers['content-type'] = opts.contentType ?? 'text/csv';
        body = opts.body;
      }
      const res = await fetch(`${url}${path}`, { method, headers, body: body ?? null });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}

/**
 * Lets the daemon's timers and its async work (CAS and CA calls) run, the clock moving `stepMs` a round,
 * until `done()`, for a bounded number of rounds. Resolves false if it never was.
 */
export async function until(d: InProcessDaemon, done: () => Promise<boolean> | boolean, stepMs = 0): Promise<boolean> {
  for (let i = 0; i < 300; i++) {
    if (await done()) return true;
    d.clock.advance(stepMs);
    d.timers.fire();
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}
