import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { Option } from 'commander';
import { MAX_PROFILE_BYTES } from '../../profiles/profile-file.js';
import { CliError } from './cli-error.js';
import { type CommandContext, contextOf } from './context.js';
import { formatPairs, formatTable, plural } from './output.js';

interface Counts {
  readonly compliant: number;
  readonly pending: number;
  readonly fault: number;
}

interface ProfileView {
  readonly name: string;
  readonly selector: string;
  readonly priority: number;
  readonly events: readonly string[] | null;
  readonly values: readonly { name: string; value: string; type: string }[];
  readonly notifications: readonly { name: string; notification: string }[];
  readonly builtin: boolean;
  readonly revision: string;
  readonly counts: Counts;
}

interface Shown extends ProfileView {
  readonly faults: readonly { device: string; fault: { code: number; message: string; details?: { parameter: string; code: number; message: string }[] }; at: string }[];
  readonly nextFault: string | null;
}

const path = (name: string) => `/v1/profiles/${encodeURIComponent(name)}`;

function readProfileFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('bad-usage', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (Buffer.byteLength(text) > MAX_PROFILE_BYTES) throw new CliError('bad-usage', `${file} is larger than ${MAX_PROFILE_BYTES} bytes`);
  return text;
}

async function add(ctx: CommandContext, file: string): Promise<void> {
  const r = await ctx.client.request<{ name: string; revision: string; replaced: boolean }>('POST', '/v1/profiles', { json: { source: readProfileFile(file) } });
  if (ctx.json) return ctx.printJson(r);
  ctx.print(`profile ${r.name} ${r.replaced ? 'replaced: devices are evaluated again at their next Inform' : 'added: matching devices get it at their next Inform'} (stbctl profile apply ${r.name} to do it now)\n`);
}

async function list(ctx: CommandContext): Promise<void> {
  const { profiles } = await ctx.client.request<{ profiles: ProfileView[] }>('GET', '/v1/profiles');
  if (ctx.json) return ctx.printJson(profiles);
  if (profiles.length === 0) return ctx.print('no profiles\n');
  ctx.print(
    formatTable(
      ['NAME', 'PRIORITY', 'EVENTS', 'VALUES', 'COMPLIANT', 'PENDING', 'FAULT', 'SELECTOR'],
      profiles.map((p) => [p.builtin ? `${p.name} (built in)` : p.name, p.builtin ? '-' : String(p.priority), p.events?.join(', ') ?? 'every Inform', String(p.values.length + p.notifications.length), String(p.counts.compliant), String(p.counts.pending), String(p.counts.fault), p.selector || '(every device)']),
    ),
  );
}

async function show(ctx: CommandContext, name: string, limit: number): Promise<void> {
  const p = await ctx.client.request<Shown>('GET', `${path(name)}?limit=${limit}`);
  if (ctx.json) return ctx.printJson(p);
  ctx.print(
    formatPairs([
      ['name', p.builtin ? `${p.name} (built in: [cwmp] periodic_inform_profile)` : p.name],
      ['selector', p.selector || '(every device)'],
      ['priority', p.builtin ? 'below every profile file' : String(p.priority)],
      ['events', p.events?.join(', ') ?? 'every Inform'],
      ['revision', p.revision],
      ['devices', `${p.counts.compliant} compliant, ${p.counts.pending} pending, ${p.counts.fault} fault`],
    ]),
  );
  if (p.values.length > 0) ctx.print(`\n${formatTable(['PARAMETER', 'VALUE', 'TYPE'], p.values.map((v) => [v.name, v.value, v.type.replace(/^xsd:/, '')]))}`);
  if (p.notifications.length > 0) ctx.print(`\n${formatTable(['PARAMETER', 'NOTIFICATION'], p.notifications.map((n) => [n.name, n.notification]))}`);
  if (p.faults.length > 0) {
    const why = (f: Shown['faults'][number]['fault']) => [`fault ${f.code}: ${f.message}`, ...(f.details ?? []).map((d) => `${d.parameter}: ${d.code} ${d.message}`)].join('; ');
    ctx.print(`\n${formatTable(['DEVICE', 'SINCE', 'FAULT'], p.faults.map((f) => [f.device, f.at, why(f.fault)]))}`);
    if (p.nextFault !== null) ctx.print(`(more devices in fault: --json, or the API's ?after=${p.nextFault})\n`);
  }
}

async function remove(ctx: CommandContext, name: string): Promise<void> {
  const r = await ctx.client.request<{ removed: string }>('DELETE', path(name));
  if (ctx.json) return ctx.printJson(r);
  ctx.print(`profile ${r.removed} removed (what it set stays on the devices)\n`);
}

/** The profile's devices a page at a time, at most `rate` devices a second, with a progress line per page on stderr. */
async function apply(ctx: CommandContext, name: string, rate: number): Promise<void> {
  const limit = Math.max(1, Math.min(rate, 1000));
  const total = { matched: 0, queued: 0, compliant: 0, busy: 0, 'not-matching': 0, 'never-informed': 0 };
  let after: string | null = null;
  const started = Date.now();
  do {
    const page: typeof total & { next: string | null } = await ctx.client.request('POST', `${path(name)}/apply`, { json: { limit, ...(after === null ? {} : { after }) } });
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += page[k];
    after = page.next;
    if (!ctx.json && page.matched > 0) process.stderr.write(`${plural(total.matched, 'device')} evaluated: ${total.queued} queued, ${total.compliant} compliant, ${total.busy} busy\n`);
    // Paced: the connection requests these tasks cause are spread over time.
    const due = started + (total.matched / rate) * 1000;
    if (after !== null && due > Date.now()) await sleep(due - Date.now());
  } while (after !== null);
  if (ctx.json) return ctx.printJson(total);
  ctx.print(
    `${plural(total.matched, 'device')} matched: ${total.queued} queued (they are asked to call in), ${total.compliant} already compliant, ${total.busy} busy with an earlier profile task, ${total['never-informed']} never informed\n`,
  );
}

const HELP = `
A profile is a TOML file (docs/profiles.md): a name, a selector, a priority, the Inform events it reacts
to, desired [values] (templated: {id}, {serialNumber}, {param:Path}, {secret}) and [notifications].
On each Inform stbd sets what differs from the last known values, in one SetParameterValues.`;

export function profileCommands(program: Command): void {
  const profile = program.command('profile').description('declarative device configuration applied on Inform').addHelpText('after', HELP);
  profile
    .command('add')
    .description('add a profile from its file, or replace the one of the same name')
    .argument('<FILE>')
    .action((file: string, _o: unknown, c: Command) => add(contextOf(c), file));
  profile
    .command('list')
    .description('every profile, with how many devices are compliant, pending, in fault')
    .action((_o: unknown, c: Command) => list(contextOf(c)));
  profile
    .command('show')
    .description("a profile: what it sets, its devices' counts, and the devices in fault with the CPE's fault")
    .argument('<NAME>')
    .addOption(new Option('--limit <n>', 'devices in fault listed at most').default(100).argParser((v) => positive(v, 1000)))
    .action((name: string, o: { limit: number }, c: Command) => show(contextOf(c), name, o.limit));
  profile
    .command('remove')
    .description('remove a profile (what it set stays on the devices)')
    .argument('<NAME>')
    .action((name: string, _o: unknown, c: Command) => remove(contextOf(c), name));
  profile
    .command('apply')
    .description('evaluate the matching devices now (their values compared, attributes set again), paced')
    .argument('<NAME>')
    .addOption(new Option('--rate <n>', 'devices a second at most').default(100).argParser((v) => positive(v, 100_000)))
    .action((name: string, o: { rate: number }, c: Command) => apply(contextOf(c), name, o.rate));
}

function positive(v: string, max: number): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n < 1 || n > max) throw new CliError('bad-usage', `expected a whole number from 1 to ${max}, got ${JSON.stringify(v)}`);
  return n;
}
