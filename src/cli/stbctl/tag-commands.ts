import type { Command } from 'commander';
import { Option } from 'commander';
import { changeProblem } from '../../devices/tags.js';
import { CliError } from './cli-error.js';
import { type CommandContext, contextOf } from './context.js';
import { formatTable, plural } from './output.js';
import { WHERE_HELP, whereOption } from './where.js';

interface Refusal {
  readonly device: string;
  readonly error: string;
  readonly message: string;
}

/** Refusals kept to print at the end of a bulk change; the rest are counted. */
const REFUSALS_SHOWN = 100;

const usage = (message: string): never => {
  throw new CliError('bad-usage', message);
};

/** One device: its tags after the change. */
async function changeOne(ctx: CommandContext, id: string, body: { add?: string[]; remove?: string[] }): Promise<void> {
  const r = await ctx.client.request<{ device: string; tags: string[]; added: string[]; removed: string[] }>('POST', `/v1/devices/${encodeURIComponent(id)}/tags`, { json: body });
  if (ctx.json) return ctx.printJson(r);
  ctx.print(`${r.device}: ${r.tags.length === 0 ? 'no tags' : `tags ${r.tags.join(', ')}`}\n`);
}

/** Every device of a selection, a page (1,000 devices examined) per request, until the daemon says there is no next. */
async function changeWhere(ctx: CommandContext, where: string, body: { add?: string[]; remove?: string[] }): Promise<void> {
  let after: string | null = null;
  let matched = 0;
  let changed = 0;
  let refused = 0;
  const shown: Refusal[] = [];
  do {
    const page: { matched: number; changed: number; refused: Refusal[]; next: string | null } = await ctx.client.request('POST', '/v1/tags', { json: { where, ...body, ...(after === null ? {} : { after }) } });
    matched += page.matched;
    changed += page.changed;
    refused += page.refused.length;
    shown.push(...page.refused.slice(0, REFUSALS_SHOWN - shown.length));
    after = page.next;
  } while (after !== null);
  if (matched === 0) throw new CliError('empty-selection', `no device matches --where ${JSON.stringify(where)}`);
  if (refused > 0) ctx.setExitCode(1);
  if (ctx.json) return ctx.printJson({ matched, changed, refused, refusals: shown });
  if (shown.length > 0) ctx.print(formatTable(['DEVICE', 'REFUSED'], shown.map((r) => [r.device, r.message])));
  if (refused > shown.length) ctx.print(`(and ${plural(refused - shown.length, 'more device')} refused)\n`);
  ctx.print(`${plural(matched, 'device')} matched: ${changed} changed, ${refused} refused\n`);
}

const HELP = `
Tags: letters and digits, and . _ : - after the first character; at most 64 characters, 32 per device
(case-sensitive: "Pilot" and "pilot" are two tags). Up to 32 tags at once.
With --where EXPR, every device the selector matches (see docs/selectors.md); stbctl prints
"N devices matched: C changed, R refused" and exits 1 if any device was refused (too many tags) or none
matched. --json prints {device, tags, added, removed}, or for --where {matched, changed, refused, refusals}.`;

function tagCommand(program: Command, name: 'tag' | 'untag', description: string): void {
  program
    .command(name)
    .description(description)
    .usage('[options] (ID | --where EXPR) TAG...')
    .argument('[ID]')
    .argument('[TAG...]')
    .addOption(new Option('--where <expr>', WHERE_HELP).argParser(whereOption))
    .addHelpText('after', `${HELP}\n\nExamples:\n  stbctl ${name} 00259E-STB-0001 pilot region:north\n  stbctl ${name} --where "productClass = 'STB-4K' AND softwareVersion < '3.2'" fw-upgrade`)
    .action(async (...params: unknown[]) => {
      const c = params.at(-1) as Command;
      const { where } = c.opts<{ where?: string }>();
      const args = c.args;
      const id = where === undefined ? args[0] : undefined;
      const tags = where === undefined ? args.slice(1) : args;
      if (where === undefined && id === undefined) usage('give a device ID, or --where EXPR');
      if (tags.length === 0) usage(`missing TAG${where === undefined ? '' : ' (with --where, give no device ID)'}`);
      const body = name === 'tag' ? { add: tags } : { remove: tags };
      const problem = changeProblem(body.add ?? [], body.remove ?? []);
      if (problem) usage(problem);
      const ctx = contextOf(c);
      return id === undefined ? changeWhere(ctx, where ?? '', body) : changeOne(ctx, id, body);
    });
}

export function tagCommands(program: Command): void {
  tagCommand(program, 'tag', 'put tags on a device, or on every device a selector matches');
  tagCommand(program, 'untag', 'take tags off a device, or off every device a selector matches');
}
