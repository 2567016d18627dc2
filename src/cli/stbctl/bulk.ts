import { readFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { CliError } from './cli-error.js';
import type { CommandContext } from './context.js';
import { formatTable, plural } from './output.js';
import { briefOf, detailOf, isOpen, type TaskView } from './task-format.js';

/** A task as POST /v1/devices/ID/tasks takes it (without the idempotency key, which is per device). */
export type TaskBody = { readonly kind: string } & Record<string, unknown>;

export interface BulkOptions {
  readonly wait: number;
  readonly idempotencyKey?: string;
  readonly allOnline?: boolean;
  readonly from?: string;
  readonly where?: string;
}

/** Devices per page of a selection, and per slice of a file. */
const PAGE = 1000;

/** Requests in flight while queueing, and long polls in flight while waiting. */
const QUEUE_CONCURRENCY = 32;
const WAIT_CONCURRENCY = 32;
/**
 * One long poll waits at most this long, then its task goes to the back of the line: with more open tasks
 * than polls in flight, every task is looked at again and again, not only the first few.
 */
const POLL_SLICE_S = 10;
/** Failures that would hit every device alike: the first device's stops the run. */
const FATAL = new Set(['unreachable', 'unauthorized', 'no-token', 'bad-config', 'bad-request', 'bad-response']);

type Outcome = 'done' | 'fault' | 'pending' | 'failed' | 'expired' | 'cancelled';

interface Entry {
  readonly device: string;
  task?: TaskView;
  error?: { readonly code: string; readonly message: string };
}

const outcomeOf = (e: Entry): Outcome => (!e.task ? 'failed' : isOpen(e.task) ? 'pending' : (e.task.status as Exclude<Outcome, 'pending' | 'failed'>));

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Device ids from a file: one a line; blank lines and lines starting with "#" skipped; "-" is stdin. */
async function idsFromFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError('bad-file', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/**
 * The devices of a bulk run, a page at a time, fetched as the run goes (--all-online and --where page through
 * GET /v1/device-ids): a selection of a million devices is never fetched whole before the first task.
 */
async function* devicePages(ctx: CommandContext, opts: BulkOptions): AsyncGenerator<string[]> {
  if (!opts.allOnline && opts.where === undefined) {
    const ids = [...new Set(await idsFromFile(opts.from ?? '-'))];
    for (let i = 0; i < ids.length; i += PAGE) yield ids.slice(i, i + PAGE);
    return;
  }
  let after: string | null = null;
  do {
    const q: URLSearchParams = new URLSearchParams({
      limit: String(PAGE),
      ...(opts.allOnline ? { online: 'true' } : {}),
      ...(opts.where === undefined ? {} : { where: opts.where }),
      ...(after === null ? {} : { after }),
    });
    const page: { ids: string[]; next: string | null } = await ctx.client.request('GET', `/v1/device-ids?${q}`);
    if (page.ids.length > 0) yield page.ids;
    after = page.next;
  } while (after !== null);
}

/** An empty selection is almost always a mistake (the wrong file, nothing online yet): not a quiet success. */
function emptySelection(opts: BulkOptions): CliError {
  if (opts.allOnline) return new CliError('empty-selection', 'no device is online');
  if (opts.where !== undefined) return new CliError('empty-selection', `no device matches --where ${JSON.stringify(opts.where)}`);
  return new CliError('empty-selection', `${opts.from === '-' || opts.from === undefined ? 'standard input' : opts.from} lists no device`);
}

/** Runs `fn` over a list that may grow while it runs, `limit` at a time. */
async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * One task for each of many devices (--all-online, --from FILE, --where EXPR): queue them page by page as
 * the selection is read, then (with --wait) wait for them together until all are finished or the wait is
 * over, and print a table and a summary.
 */
export async function runBulk(ctx: CommandContext, body: TaskBody, opts: BulkOptions): Promise<void> {
  const entries: Entry[] = [];
  const tally: Record<Outcome, number> = { done: 0, fault: 0, pending: 0, failed: 0, expired: 0, cancelled: 0 };
  // A progress bar only for a person watching a terminal; scripts get clean output.
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { format: '{phase} {bar} {value}/{total} devices | {done} done, {fault} fault, {failed} failed', stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const set = (e: Entry, change: () => void) => {
    const before = e.task || e.error ? outcomeOf(e) : undefined;
    change();
    if (before) tally[before]--;
    tally[outcomeOf(e)]++;
  };
  const failure = (err: unknown) => {
    if (!(err instanceof CliError)) throw err;
    return { code: err.code, message: err.message };
  };

  const queue = async (e: Entry) => {
    const json = { ...body, ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }) };
    try {
      const task = await ctx.client.request<TaskView>('POST', `/v1/devices/${encodeURIComponent(e.device)}/tasks`, { json });
      set(e, () => (e.task = task));
    } catch (err) {
      const error = failure(err);
      set(e, () => (e.error = error));
    }
    bar?.increment(1, tally);
  };

  const poll = async (e: Entry, deadline: number, again: Entry[]) => {
    const left = deadline - Date.now();
    const wait = left < 50 ? 0 : Math.min(POLL_SLICE_S, left / 1000);
    const before = outcomeOf(e);
    try {
      const task = await ctx.client.request<TaskView>('GET', `/v1/tasks/${e.task?.id}?wait=${wait.toFixed(3)}`);
      set(e, () => (e.task = task));
    } catch (err) {
      e.error = failure(err); // the task stays as last seen
      return;
    }
    if (before === 'pending' && outcomeOf(e) !== 'pending') bar?.increment(1, tally);
    else if (wait > 0 && isOpen(e.task as TaskView)) again.push(e);
  };

  try {
    for await (const ids of devicePages(ctx, opts)) {
      const page: Entry[] = ids.map((device) => ({ device }));
      const first = entries.length === 0 ? page.shift() : undefined;
      entries.push(...(first ? [first] : []), ...page);
      if (first) {
        bar?.start(entries.length, 0, { phase: 'queueing', ...tally });
        // The first goes alone: a failure that would hit every device (a refused token, a body the API refuses) stops the run.
        await queue(first);
        if (first.error && FATAL.has(first.error.code)) throw new CliError(first.error.code, first.error.message);
      }
      bar?.setTotal(entries.length);
      await inParallel(page, QUEUE_CONCURRENCY, queue);
    }
    if (entries.length === 0) throw emptySelection(opts);
    if (opts.wait > 0) {
      bar?.stop();
      bar?.start(entries.length, entries.length - tally.pending, { phase: 'waiting', ...tally });
      const deadline = Date.now() + opts.wait * 1000;
      const open = entries.filter((e) => outcomeOf(e) === 'pending');
      await inParallel(open, WAIT_CONCURRENCY, (e) => poll(e, deadline, open));
    }
  } finally {
    bar?.stop();
  }

  const total = entries.length;
  const ok = opts.wait > 0 ? tally.done === total : tally.failed + tally.fault + tally.expired + tally.cancelled === 0;
  if (!ok) process.exitCode = 1;
  if (ctx.json) {
    const tasks = entries.map((e) => ({
      device: e.device,
      ...(e.task ? briefOf(e.task) : { id: null, status: 'failed' }),
      ...(e.error ? { error: e.error.code, message: e.error.message } : {}),
    }));
    return ctx.printJson({ total, ...tally, tasks });
  }
  if (total > 0) {
    const rows = entries.map((e) => [e.device, e.task ? String(e.task.id) : '-', e.task?.status ?? 'failed', e.task ? detailOf(e.task) : (e.error?.message ?? '')]);
    ctx.print(formatTable(['DEVICE', 'TASK', 'STATUS', 'DETAIL'], rows));
  }
  const extra = (['expired', 'cancelled'] as const).filter((k) => tally[k] > 0).map((k) => `, ${tally[k]} ${k}`);
  ctx.print(`${plural(total, 'device')}: ${tally.done} done, ${tally.fault} fault, ${tally.pending} pending, ${tally.failed} failed to queue${extra.join('')}\n`);
}
