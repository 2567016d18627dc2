import { type Command, InvalidArgumentError, Option } from 'commander';
import { MAX_SCHEDULE_S } from '../../management/task-input.js';
import { NOTIFICATIONS, UPLOAD_FILE_TYPES } from '../../management/task.js';
import { expirySeconds, MAX_WAIT_S, positiveInt, waitSeconds, wholeSeconds } from './arg-parsers.js';
import { type BulkOptions, runBulk, type TaskBody } from './bulk.js';
import { CliError } from './cli-error.js';
import { type CommandContext, contextOf } from './context.js';
import { formatPairs, formatTable } from './output.js';
import { uploadCommands } from './upload-commands.js';
import { WHERE_HELP, whereOption } from './where.js';
import { briefOf, detailOf, faultText, isOpen, originOf, problemOf, renderResult, type TaskView } from './task-format.js';

const MAX_LIST = 1000;

interface TaskOptions extends BulkOptions {
  readonly expiresIn?: number;
}

const usage = (message: string): never => {
  throw new CliError('bad-usage', message);
};

const taskId = (v: string): number => {
  if (!/^[1-9][0-9]*$/.test(v) || !Number.isSafeInteger(Number(v))) usage(`TASK must be a task id (a whole number from 1), got ${JSON.stringify(v)}`);
  return Number(v);
};

const devicePath = (id: string) => `/v1/devices/${encodeURIComponent(id)}`;

/** One task command: its operands after the device id, its extra options, and the API body it builds. */
interface TaskSpec {
  readonly name: string;
  /** The operands as the usage line shows them, e.g. "PARAM...". */
  readonly operands: string;
  readonly description: string;
  readonly min: number;
  readonly max: number;
  readonly options?: readonly Option[];
  readonly help?: string;
  /** `hint` is appended to an operand error: in bulk mode a stray device id is the likely cause. */
  build(operands: readonly string[], opts: Record<string, unknown>, hint: string): TaskBody;
}

const BULK_HINT = '; with --all-online, --from FILE or --where EXPR, give no device ID';

function objectPath(path: string, hint: string): string {
  if (!path.endsWith('.')) usage(`PATH must be an object path ending in ".", e.g. Device.IP.Interface., got ${JSON.stringify(path)}${hint}`);
  return path;
}

function parameterName(name: string, hint: string): string {
  if (!name.includes('.')) usage(`${JSON.stringify(name)} is not a parameter name: give full names like Device.DeviceInfo.SoftwareVersion, or partial paths ending in "."${hint}`);
  return name;
}

export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** NAME=VALUE operands with their --type NAME=TYPE, checked (a usage error otherwise). */
export function setValues(operands: readonly string[], types: readonly string[], hint: string) {
  const values = operands.map((op) => {
    const eq = op.indexOf('=');
    if (eq <= 0) usage(`expected NAME=VALUE, got ${JSON.stringify(op)}${hint}`);
    return { name: parameterName(op.slice(0, eq), hint), value: op.slice(eq + 1) };
  });
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v.name)) usage(`${v.name} is set twice`);
    seen.add(v.name);
  }
  const typeOf = new Map<string, string>();
  for (const t of types) {
    const eq = t.indexOf('=');
    if (eq <= 0) usage(`--type expects NAME=TYPE (e.g. Device.X.Enable=xsd:boolean), got ${JSON.stringify(t)}`);
    const name = t.slice(0, eq);
    const type = t.slice(eq + 1).startsWith('xsd:') ? t.slice(eq + 1) : `xsd:${t.slice(eq + 1)}`;
    if (!/^xsd:[A-Za-z]+$/.test(type)) usage(`--type ${t}: TYPE must be an XML Schema type such as xsd:boolean, xsd:unsignedInt, xsd:int, xsd:dateTime`);
    if (!seen.has(name)) usage(`--type ${t}: ${name} is not one of the parameters set`);
    typeOf.set(name, type);
  }
  return values.map((v) => ({ ...v, type: typeOf.get(v.name) ?? 'xsd:string' }));
}

function attributes(operands: readonly string[], hint: string) {
  const seen = new Set<string>();
  return operands.map((op) => {
    const eq = op.lastIndexOf('=');
    const notification = op.slice(eq + 1).toLowerCase();
    if (eq <= 0 || !(NOTIFICATIONS as readonly string[]).includes(notification)) usage(`expected NAME=active, NAME=passive or NAME=off, got ${JSON.stringify(op)}${hint}`);
    const name = parameterName(op.slice(0, eq), hint);
    if (seen.has(name)) usage(`${name} is given twice`);
    seen.add(name);
    return { name, notification };
  });
}

const FILE_TYPES: Record<string, string> = { '1': '1 Firmware Upgrade Image', '2': '2 Web Content', '3': '3 Vendor Configuration File' };

const SPECS: readonly TaskSpec[] = [
  {
    name: 'get',
    operands: 'PARAM...',
    description: 'read parameter values (GetParameterValues); a PARAM ending in "." reads that whole subtree',
    min: 1,
    max: Infinity,
    build: (ops, _o, hint) => ({ kind: 'getParameterValues', names: ops.map((n) => parameterName(n, hint)) }),
  },
  {
    name: 'set',
    operands: 'NAME=VALUE...',
    description: 'set parameter values (SetParameterValues), all in one RPC: the device applies all or none',
    min: 1,
    max: Infinity,
    options: [new Option('--type <name=type>', 'the xsd type of one parameter (repeatable), e.g. --type Device.X.Enable=xsd:boolean; "xsd:" may be left out; default xsd:string').argParser(collect)],
    help: '\nExample: stbctl set DEVICE Device.ManagementServer.PeriodicInformEnable=true Device.ManagementServer.PeriodicInformInterval=300 \\\n           --type Device.ManagementServer.PeriodicInformEnable=boolean --type Device.ManagementServer.PeriodicInformInterval=unsignedInt\nThe value is everything after the first "=" (it may be empty or contain "=").',
    build: (ops, o, hint) => ({ kind: 'setParameterValues', values: setValues(ops, (o['type'] as string[] | undefined) ?? [], hint) }),
  },
  {
    name: 'get-names',
    operands: 'PATH',
    description: 'list parameter names under PATH with whether they are writable (GetParameterNames)',
    min: 1,
    max: 1,
    options: [new Option('--next-level', 'only the direct children of PATH')],
    build: (ops, o) => ({ kind: 'getParameterNames', path: ops[0] ?? '', nextLevel: o['nextLevel'] === true }),
  },
  {
    name: 'add-object',
    operands: 'PATH',
    description: 'create an instance of a multi-instance object, e.g. Device.NAT.PortMapping. (AddObject); prints its path',
    min: 1,
    max: 1,
    build: (ops, _o, hint) => ({ kind: 'addObject', path: objectPath(ops[0] ?? '', hint) }),
  },
  {
    name: 'delete-object',
    operands: 'PATH',
    description: 'delete an object instance, e.g. Device.NAT.PortMapping.3. (DeleteObject)',
    min: 1,
    max: 1,
    build: (ops, _o, hint) => ({ kind: 'deleteObject', path: objectPath(ops[0] ?? '', hint) }),
  },
  {
    name: 'reboot',
    operands: '',
    description: 'reboot the device (Reboot)',
    min: 0,
    max: 0,
    build: () => ({ kind: 'reboot' }),
  },
  {
    name: 'factory-reset',
    operands: '',
    description: 'reset the device to its factory settings (FactoryReset): it loses its configuration',
    min: 0,
    max: 0,
    options: [new Option('--yes', 'required with --all-online, --from or --where: resetting many devices at once is deliberate')],
    build: () => ({ kind: 'factoryReset' }),
  },
  {
    name: 'download',
    operands: 'URL',
    description: 'make the device download a file from URL and apply it (Download): firmware by default',
    min: 1,
    max: 1,
    options: [
      new Option('--file-type <type>', 'TR-069 file type: 1 (or "1 Firmware Upgrade Image", the default), 2 ("2 Web Content"), 3 ("3 Vendor Configuration File"), or any vendor string'),
      new Option('--username <u>', 'username the device gives the file server'),
      new Option('--password <p>', 'password the device gives the file server (never shown back by the API)'),
      new Option('--file-size <bytes>', 'the file size, for the device to check its free space').argParser((v) => {
        if (!/^[0-9]+$/.test(v)) throw new InvalidArgumentError('expected a number of bytes.');
        return Number(v);
      }),
      new Option('--target-file-name <name>', 'the file name the device stores it under'),
    ],
    help: '\nA device answers "status 1" when the download goes on after its answer: the task is then done and the\noutcome arrives later in a TransferComplete (stbctl task show TASK shows it).',
    build: (ops, o, hint) => {
      const url = ops[0] ?? '';
      if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/\S+$/.test(url)) usage(`expected a URL such as https://files.example.net/fw.bin, got ${JSON.stringify(url)}${hint}`);
      const fileType = o['fileType'] as string | undefined;
      return {
        kind: 'download',
        url,
        ...(fileType === undefined ? {} : { fileType: FILE_TYPES[fileType] ?? fileType }),
        ...(o['username'] === undefined ? {} : { username: o['username'] }),
        ...(o['password'] === undefined ? {} : { password: o['password'] }),
        ...(o['fileSize'] === undefined ? {} : { fileSize: o['fileSize'] }),
        ...(o['targetFileName'] === undefined ? {} : { targetFileName: o['targetFileName'] }),
      };
    },
  },
  {
    name: 'refresh',
    operands: '[PATH]',
    description: "re-read a subtree (the device's whole tree without PATH) into the last known values that device show prints",
    min: 0,
    max: 1,
    build: (ops, _o, hint) => ({ kind: 'refresh', ...(ops[0] === undefined ? {} : { path: objectPath(ops[0], hint) }) }),
  },
  {
    name: 'get-attributes',
    operands: 'PARAM...',
    description: 'read notification attributes and access lists (GetParameterAttributes); a PARAM ending in "." reads that whole subtree',
    min: 1,
    max: Infinity,
    build: (ops, _o, hint) => ({ kind: 'getParameterAttributes', names: ops.map((n) => parameterName(n, hint)) }),
  },
  {
    name: 'set-attributes',
    operands: 'NAME=active|passive|off...',
    description: 'set notification attributes (SetParameterAttributes): active makes the device call in when the value changes, passive reports it at its next Inform',
    min: 1,
    max: Infinity,
    help: '\nExample: stbctl set-attributes DEVICE Device.DeviceInfo.SoftwareVersion=active Device.Time.NTPServer1=passive\nA NAME ending in "." sets every parameter under it. Access lists are left as they are.',
    build: (ops, _o, hint) => ({ kind: 'setParameterAttributes', attributes: attributes(ops, hint) }),
  },
  {
    name: 'schedule-inform',
    operands: 'SECONDS',
    description: 'make the device call in once, SECONDS after its answer (ScheduleInform; Inform "3 SCHEDULED")',
    min: 1,
    max: 1,
    build: (ops, _o, hint) => {
      const n = wholeSeconds(ops[0] ?? '');
      if (n === undefined || n < 1 || n > MAX_SCHEDULE_S) usage(`SECONDS must be whole seconds from 1 to ${MAX_SCHEDULE_S} (e.g. 60, 90s, 10m), got ${JSON.stringify(ops[0])}${hint}`);
      return { kind: 'scheduleInform', delaySeconds: n };
    },
  },
  {
    name: 'upload',
    operands: '',
    description: 'make the device upload its configuration file or its log to stbd (Upload); list them with stbctl uploads ID, fetch with stbctl upload get UPLOAD',
    min: 0,
    max: 0,
    options: [new Option('--type <type>', 'what to upload: config (1 Vendor Configuration File) or log (2 Vendor Log File)').choices(['config', 'log']).default('config')],
    help: '\nThe device uploads to a URL on the CWMP listener made for the task (it expires after [uploads] transfer_timeout).\nThe task is transferring until the file is stored and the device reports the transfer (TransferComplete);\na file over [uploads] max_size is refused and the task faults.',
    build: (_ops, o) => ({ kind: 'upload', fileType: UPLOAD_FILE_TYPES[o['type'] as keyof typeof UPLOAD_FILE_TYPES] }),
  },
];

const TASK_HELP = `
Devices: one device ID, or --all-online (every device online now), or --from FILE (one device id a line;
blank lines and # comments ignored; "-" reads standard input), or --where EXPR (every device a selector
matches, e.g. --where "productClass = 'STB-4K' AND softwareVersion < '3.2'"; see docs/selectors.md).

One device:
  Without --wait the task is queued; stbctl prints its id and why it is waiting, and exits 0.
  With --wait SECONDS it waits up to that long for the device's answer and prints the result (exit 0).
  A fault prints "fault CODE: MESSAGE" on stderr and exits 1; so does a task that expired or was cancelled,
  and one still pending when the wait ends ("task N still queued ...": follow it with
  stbctl task show N --wait SECONDS).
  --json prints {id, status, result?, fault?, pending?} on stdout in every one of these cases.

Many devices (--all-online, --from, --where):
  The devices are read a page (1,000) at a time and their tasks queued 32 at a time as they come; with --wait, stbctl then waits for all of them together, until every one is
  finished or SECONDS have passed since the last was queued. A progress bar shows on stderr when it is a
  terminal. Prints a table DEVICE TASK STATUS DETAIL and "N devices: D done, F fault, P pending, E failed to
  queue"; --json prints {total, done, fault, pending, failed, expired, cancelled, tasks: [{device, id,
  status, result?, fault?, pending?, error?, message?}]} (a device that could not be queued has status
  "failed" and the API's error). Exit 1 if any task is not done (without --wait: if any could not be queued).
  --idempotency-key KEY: keys are per device, so a repeated bulk run queues nothing twice.

Exit codes: 0 success, 1 the operation failed or did not complete, 2 the command line was wrong.`;

const OPEN_WORDS: Record<string, string> = { queued: 'queued for', sent: 'sent to', transferring: 'transferring from' };

/** What the API answered for one device, printed for a person or as JSON; sets exit code 1 unless it succeeded. */
function reportTask(ctx: CommandContext, t: TaskView, waited: number): void {
  const ok = t.status === 'done' || (waited === 0 && isOpen(t));
  if (!ok) process.exitCode = 1;
  if (ctx.json) return ctx.printJson(briefOf(t));
  if (t.status === 'done') return ctx.print(renderResult(t));
  if (isOpen(t) && waited === 0) return ctx.print(`task ${t.id} ${OPEN_WORDS[t.status] ?? t.status} ${t.device}: ${t.pending ?? ''}\n`);
  if (isOpen(t)) {
    process.stderr.write(`stbctl: task ${t.id} still ${t.status} after ${waited} s: ${t.pending ?? ''} (wait longer with: stbctl task show ${t.id} --wait SECONDS)\n`);
    return;
  }
  process.stderr.write(`stbctl: task ${t.id} on ${t.device}: ${problemOf(t)}\n`);
}

function taskCommand(program: Command, spec: TaskSpec): Command {
  const cmd = program
    .command(spec.name)
    .description(spec.description)
    .usage(`[options] (ID | --all-online | --from FILE | --where EXPR)${spec.operands ? ` ${spec.operands}` : ''}`)
    // Both optional: with --all-online, --from or --where there is no ID, and the first operand arrives as "ID".
    .argument('[ID]');
  if (spec.operands) cmd.argument(`[${spec.operands.replace(/^\[(.*)\]$/, '$1')}]`);
  cmd
    .addOption(new Option('--wait <seconds>', `wait up to this long (0–${MAX_WAIT_S} s; 30, 10s, 5m, 500ms) for the answer and print it`).argParser(waitSeconds).default(0))
    .addOption(new Option('--expires-in <seconds>', 'give up if the device has not called in by then (3600, 90s, 10m, 12h; default: the daemon\'s task expiry)').argParser(expirySeconds))
    .addOption(new Option('--idempotency-key <key>', 'sending the same request with the same key again returns the first task instead of queueing another'))
    .addOption(new Option('--all-online', 'every device online now, instead of one ID'))
    .addOption(new Option('--from <file>', 'the devices listed in FILE (one id a line; "-" for stdin), instead of one ID'))
    .addOption(new Option('--where <expr>', `${WHERE_HELP}, instead of one ID`).argParser(whereOption));
  for (const o of spec.options ?? []) cmd.addOption(o);
  cmd.addHelpText('after', `${spec.help ?? ''}${TASK_HELP}`);
  cmd.action(async (...params: unknown[]) => {
    const c = params.at(-1) as Command;
    const opts = c.opts<TaskOptions & Record<string, unknown>>();
    const args = c.args;
    const ctx = contextOf(c);
    const selections = [opts.allOnline === true, opts.from !== undefined, opts.where !== undefined].filter(Boolean).length;
    const bulk = selections > 0;
    if (selections > 1) usage('give one of --all-online, --from FILE and --where EXPR, not several');
    if (!bulk && args.length === 0) usage('give a device ID, or --all-online, --from FILE or --where EXPR');
    const id = bulk ? undefined : args[0];
    const operands = bulk ? args : args.slice(1);
    const hint = bulk ? BULK_HINT : '';
    if (bulk && spec.name === 'factory-reset' && opts['yes'] !== true) usage('factory-reset of many devices needs --yes');
    if (operands.length < spec.min) usage(`missing ${spec.operands}`);
    if (operands.length > spec.max) usage(`too many arguments${spec.operands ? ` (expected ${spec.operands})` : ''}${hint}`);
    const body: TaskBody = {
      ...spec.build(operands, opts, hint),
      ...(opts.expiresIn === undefined ? {} : { expiresIn: opts.expiresIn }),
    };
    if (id === undefined) return runBulk(ctx, body, opts);
    const json = { ...body, ...(opts.idempotencyKey === undefined ? {} : { idempotencyKey: opts.idempotencyKey }) };
    const t = await ctx.client.request<TaskView>('POST', `${devicePath(id)}/tasks?wait=${opts.wait}`, { json });
    reportTask(ctx, t, opts.wait);
  });
  return cmd;
}

function taskPairs(t: TaskView): [string, string][] {
  const { kind: _kind, ...args } = t.request as { kind: string } & Record<string, unknown>;
  return [
    ['task', String(t.id)],
    ['device', t.device],
    ['kind', t.kind],
    ['request', Object.keys(args).length === 0 ? '-' : JSON.stringify(args)],
    ['origin', originOf(t)],
    ['status', t.status],
    ['idempotency key', t.idempotencyKey ?? '-'],
    ['created', t.createdAt ?? '-'],
    ['expires', t.expiresAt ?? '-'],
    ['sent', t.sentAt ?? '-'],
    ['finished', t.finishedAt ?? '-'],
    ['attempts', String(t.attempts)],
    ...(t.fault ? [['fault', faultText(t.fault)] as [string, string]] : []),
    ...(t.pending === undefined ? [] : [['pending', t.pending] as [string, string]]),
  ];
}

const shorten = (s: string, max = 100) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** The TR-069 management commands: one per CWMP RPC, plus the task list, show and cancel. */
export function taskCommands(program: Command): void {
  for (const spec of SPECS) {
    const cmd = taskCommand(program, spec);
    if (spec.name === 'upload') uploadCommands(program, cmd);
  }

  program
    .command('tasks <id>')
    .description("a device's tasks, newest first: kind, status, and the result, the fault or why each is still waiting")
    .addOption(new Option('--limit <n>', `how many tasks (1–${MAX_LIST})`).argParser(positiveInt('a count', MAX_LIST)).default(20))
    .addOption(new Option('--before <task>', 'only tasks older than this one (to page back)').argParser(positiveInt('a task id')))
    .action(async (id: string, opts: { limit: number; before?: number }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const q = new URLSearchParams({ limit: String(opts.limit), ...(opts.before === undefined ? {} : { before: String(opts.before) }) });
      const page = await ctx.client.request<{ tasks: TaskView[]; next: number | null }>('GET', `${devicePath(id)}/tasks?${q}`);
      if (ctx.json) return ctx.printJson(page.tasks);
      const rows = page.tasks.map((t) => [String(t.id), t.kind, originOf(t), t.status, t.createdAt ?? '-', t.finishedAt ?? '-', shorten(detailOf(t))]);
      ctx.print(formatTable(['ID', 'KIND', 'ORIGIN', 'STATUS', 'CREATED', 'FINISHED', 'DETAIL'], rows));
      if (page.next !== null) ctx.print(`(older tasks: stbctl tasks ${id} --before ${page.next})\n`);
    });

  const task = program.command('task').description('one task: show it (and wait for it), or cancel it');

  task
    .command('show <task>')
    .description('show a task: its request, status and times, and its result, fault, or why it is still waiting')
    .addOption(new Option('--wait <seconds>', `wait up to this long (0–${MAX_WAIT_S} s; 30, 10s, 5m, 500ms) for the task to finish`).argParser(waitSeconds).default(0))
    .addHelpText('after', '\nExit 0 when the task is shown; with --wait, exit 1 unless the task is done by the end of the wait.')
    .action(async (arg: string, opts: { wait: number }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const t = await ctx.client.request<TaskView>('GET', `/v1/tasks/${taskId(arg)}?wait=${opts.wait}`);
      if (opts.wait > 0 && t.status !== 'done') process.exitCode = 1;
      if (ctx.json) return ctx.printJson(t);
      ctx.print(formatPairs(taskPairs(t)));
      if (t.status === 'done') ctx.print(`\n${renderResult(t)}`);
    });

  task
    .command('cancel <task>')
    .description('cancel a queued task (one already sent to the device cannot be: exit 1)')
    .action(async (arg: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const t = await ctx.client.request<TaskView>('POST', `/v1/tasks/${taskId(arg)}/cancel`);
      if (ctx.json) return ctx.printJson(briefOf(t));
      ctx.print(`task ${t.id} cancelled\n`);
    });
}
