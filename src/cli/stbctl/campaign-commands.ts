import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, Option } from 'commander';
import { type CampaignInput, CampaignInputError, campaignSpec, checkName } from '../../campaigns/campaign-input.js';
import { type CampaignProgress, campaignBar } from '../campaign-progress.js';
import { CliError } from './cli-error.js';
import { type CommandContext, contextOf } from './context.js';
import { formatPairs, formatTable } from './output.js';
import { collect, setValues } from './task-commands.js';
import { WHERE_HELP, whereOption } from './where.js';

const usage = (message: string): never => {
  throw new CliError('bad-usage', message);
};

interface View extends CampaignProgress {
  readonly name: string;
  readonly reason: string | null;
  readonly where: string;
  readonly action: { kind: 'firmware'; fileId: string } | { kind: 'set'; values: { name: string; value: string }[] };
  readonly targetVersion: string | null;
  readonly canary: number;
  readonly waves: string;
  readonly concurrency: number;
  readonly window: string;
  readonly timezone: string;
  readonly days: string;
  readonly stopFailureRate: string;
  readonly maxAttempts: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly perWave?: { wave: number; size: number; counts: CampaignProgress['counts'] }[];
  readonly failures?: { device: string; reason: string; attempts: number }[];
}

const path = (name: string, tail = '') => `/v1/campaigns/${encodeURIComponent(name)}${tail}`;
const actionText = (v: View) => (v.action.kind === 'firmware' ? `firmware ${v.action.fileId} (version ${v.targetVersion})` : `set ${v.action.values.map((x) => `${x.name}=${x.value}`).join(' ')}`);
const STATES = ['pending', 'in-progress', 'succeeded', 'failed', 'skipped', 'cancelled'] as const;

function printReport(ctx: CommandContext, v: View): void {
  ctx.print(
    formatPairs([
      ['campaign', v.name],
      ['state', v.reason ? `${v.state}: ${v.reason}` : v.state],
      ['where', v.where],
      ['does', actionText(v)],
      ['waves', `${v.canary > 0 ? `canary ${v.canary}, then ` : ''}${v.waves} (now wave ${v.wave} of ${v.waveCount}; 0 is the canary)`],
      ['concurrency', String(v.concurrency)],
      ['window', `${v.window} ${v.timezone}, ${v.days}`],
      ['stop rule', `pause when a wave's failures pass ${v.stopFailureRate}; ${v.maxAttempts} tries per device`],
      ['devices', String(v.total)],
      ...STATES.map((s) => [s, String(v.counts[s])] as const),
    ]),
  );
  if (v.perWave && v.perWave.some((w) => w.size > 0)) {
    ctx.print('\n' + formatTable(['WAVE', 'DEVICES', ...STATES.map((s) => s.toUpperCase())], v.perWave.filter((w) => w.size > 0).map((w) => [w.wave === 0 ? 'canary' : String(w.wave), String(w.size), ...STATES.map((s) => String(w.counts[s]))])));
  }
  if (v.failures && v.failures.length > 0) ctx.print('\n' + formatTable(['FAILED DEVICE', 'TRIES', 'REASON'], v.failures.map((f) => [f.device, String(f.attempts), f.reason])));
}

/** On a terminal, a live bar until the campaign stops running; then the report. */
async function watch(ctx: CommandContext, name: string, everyMs: number): Promise<void> {
  const bar = campaignBar(process.stderr);
  let v: View;
  try {
    for (;;) {
      v = await ctx.client.request<View>('GET', path(name));
      bar.update(v);
      if (v.state !== 'running') break;
      await sleep(everyMs);
    }
  } finally {
    bar.stop();
  }
  printReport(ctx, v);
}

function input(where: string, o: Record<string, unknown>, operands: readonly string[]): CampaignInput {
  const set = (o['set'] as string[] | undefined) ?? [];
  const values = set.length > 0 ? setValues(set, (o['type'] as string[] | undefined) ?? [], '') : undefined;
  const num = (k: string) => (o[k] === undefined ? undefined : Number(o[k]));
  if (operands.length > 0) usage(`unexpected ${JSON.stringify(operands[0])}: give --set NAME=VALUE for each parameter`);
  const i: CampaignInput = {
    where,
    ...(o['firmware'] === undefined ? {} : { firmware: o['firmware'] as string }),
    ...(values ? { set: values } : {}),
    ...Object.fromEntries(
      [
        ['canary', num('canary')],
        ['concurrency', num('concurrency')],
        ['maxAttempts', num('maxAttempts')],
        ['waves', o['waves']],
        ['window', o['window']],
        ['timezone', o['timezone']],
        ['days', o['days']],
        ['stopFailureRate', o['stopFailureRate']],
      ].filter(([, v]) => v !== undefined),
    ),
  };
  try {
    campaignSpec(i);
  } catch (err) {
    if (err instanceof CampaignInputError) usage(err.message);
    throw err;
  }
  return i;
}

const CREATE_HELP = `
The target set is fixed when the campaign starts (--start, or stbctl campaign start NAME). The canary
(--canary N, the first N devices online then) must fully succeed before wave 1; each wave (--waves,
cumulative percentages of the devices) waits for the one before; never more than --concurrency devices are
in progress; devices start only inside the window (--window, in --timezone, on --days) and when online.
A wave whose failed devices pass --stop-failure-rate pauses the campaign, saying why; resume goes on.
A firmware device succeeds only when an Inform reports the file's version after its download (see
docs/campaigns.md).

Examples:
  stbctl campaign create fw-3.2 --where "productClass = 'STB-4K' AND softwareVersion < '3.2'" \\
      --firmware fw-3.2.0 --canary 20 --waves 10%,50%,100% --concurrency 500 \\
      --window 02:00-05:00 --timezone Europe/Paris --days mon-fri --stop-failure-rate 2% --start
  stbctl campaign create ntp --where "tag = 'pilot'" --set InternetGatewayDevice.Time.NTPServer1=ntp.example.net --start`;

export function campaignCommands(program: Command): void {
  const campaign = program.command('campaign').description('staged campaigns: firmware upgrades and parameter changes in waves (docs/campaigns.md)');

  campaign
    .command('create')
    .description('define a campaign (a draft until started)')
    .argument('<NAME>')
    .argument('[operands...]')
    .addOption(new Option('--where <expr>', WHERE_HELP).argParser(whereOption).makeOptionMandatory())
    .option('--firmware <file-id>', 'install this firmware file (stbctl file list)')
    .addOption(new Option('--set <name=value>', 'set this parameter (repeatable)').argParser(collect))
    .addOption(new Option('--type <name=type>', 'the xsd type of one --set parameter (repeatable); default xsd:string').argParser(collect))
    .option('--canary <n>', 'devices that must all succeed first (default 0)')
    .option('--waves <list>', 'cumulative percentages, e.g. 10%,50%,100% (default 100%)')
    .option('--concurrency <n>', 'devices in progress at most (default 100)')
    .option('--window <HH:MM-HH:MM>', 'the maintenance window (default all day); may cross midnight')
    .option('--timezone <tz>', 'the time zone of the window, e.g. Europe/Paris (default UTC)')
    .option('--days <days>', 'days the window opens, e.g. mon-fri or sat,sun (default every day)')
    .option('--stop-failure-rate <pct>', 'pause when a wave has more failed devices than this (default 5%)')
    .option('--max-attempts <n>', 'tries per device (default 1)')
    .option('--start', 'start it at once')
    .addHelpText('after', CREATE_HELP)
    .action(async (name: string, operands: string[], o: Record<string, unknown>, c: Command) => {
      try {
        checkName(name);
      } catch (err) {
        usage((err as Error).message);
      }
      const body = { name, ...input(o['where'] as string, o, operands), ...(o['start'] ? { start: true } : {}) };
      const ctx = contextOf(c);
      const v = await ctx.client.request<View>('POST', '/v1/campaigns', { json: body });
      if (ctx.json) return ctx.printJson(v);
      ctx.print(`campaign ${v.name} ${v.state === 'running' ? `started: ${v.total} devices` : 'created (a draft: stbctl campaign start ' + v.name + ')'}\n`);
    });

  campaign
    .command('list')
    .description('every campaign, newest first')
    .action(async (_o: unknown, c: Command) => {
      const ctx = contextOf(c);
      const r = await ctx.client.request<{ campaigns: View[] }>('GET', '/v1/campaigns');
      if (ctx.json) return ctx.printJson(r);
      if (r.campaigns.length === 0) return ctx.print('no campaigns\n');
      ctx.print(formatTable(['NAME', 'STATE', 'DEVICES', 'WAVE', 'DOES', 'REASON'], r.campaigns.map((v) => [v.name, v.state, String(v.total), `${v.wave}/${v.waveCount}`, actionText(v), v.reason ?? ''])));
    });

  campaign
    .command('show')
    .description('counts per state, per wave, failed devices with their reasons; a live progress bar on a terminal while it runs')
    .argument('<NAME>')
    .option('--no-watch', 'print once, even on a terminal')
    .action(async (name: string, o: { watch: boolean }, c: Command) => {
      const ctx = contextOf(c);
      if (!ctx.json && o.watch && process.stderr.isTTY) return watch(ctx, name, 2000);
      const v = await ctx.client.request<View>('GET', path(name));
      if (ctx.json) return ctx.printJson(v);
      printReport(ctx, v);
    });

  const verbs = { start: 'start a draft: its target set is read now', pause: 'stop starting devices (those in progress finish)', resume: 'go on (past the stop rule of the wave it paused in)', cancel: 'stop for good: pending devices are cancelled' } as const;
  for (const [verb, description] of Object.entries(verbs)) {
    campaign
      .command(verb)
      .description(description)
      .argument('<NAME>')
      .action(async (name: string, _o: unknown, c: Command) => {
        const ctx = contextOf(c);
        const v = await ctx.client.request<View>('POST', path(name, `/${verb}`));
        if (ctx.json) return ctx.printJson(v);
        ctx.print(`campaign ${v.name}: ${v.state}${v.reason ? ` (${v.reason})` : ''}\n`);
      });
  }
}
