import { type Command, Option } from 'commander';
import type { DeviceCredentials } from '../../devices/device.js';
import type { DeviceView, managementView } from '../../api/views.js';
import { contextOf } from './context.js';
import { formatPairs, formatTable, plural } from './output.js';
import { WHERE_HELP, whereOption } from './where.js';

type ManagementView = ReturnType<typeof managementView>;

const path = (id: string) => `/v1/devices/${encodeURIComponent(id)}`;
const binding = (d: DeviceView) => (d.binding ? `${d.binding.address}:${d.binding.port}` : '-');
const tagsText = (d: DeviceView) => (d.tags.length === 0 ? '-' : d.tags.join(','));

function devicePairs(d: DeviceView): [string, string][] {
  return [
    ['id', d.id],
    ['online', d.online ? 'yes' : 'no'],
    ['binding', binding(d)],
    ['nat id', d.natId ?? '-'],
    ['last seen', d.lastSeen ?? 'never'],
    ['binding changed', d.bindingChangedAt ?? '-'],
    ['stun username', d.stunUsername],
    ['cr username', d.crUsername],
    ['cwmp username', d.cwmpUsername],
    ['created', d.createdAt],
    ['updated', d.updatedAt],
    ['tags', tagsText(d)],
  ];
}

const yesNo = (v: boolean | null) => (v === null ? 'unknown' : v ? 'yes' : 'no');

/** What the management channel knows: the last Inform, NAT detection, and the last known parameter values. */
function managementText(m: ManagementView): string {
  const info = m.deviceInfo;
  const pairs = formatPairs([
    ['last inform', m.lastInformAt ?? 'never'],
    ['last events', m.lastEvents.length > 0 ? m.lastEvents.join(', ') : '-'],
    ['device info', info ? `${info.manufacturer} ${info.oui}-${info.productClass}-${info.serialNumber}` : '-'],
    ['data model', m.dataModel ?? '-'],
    ['cwmp version', m.cwmpVersion ?? '-'],
    ['source address', m.sourceAddress ?? '-'],
    ['conn. request url', m.connectionRequestUrl ?? '-'],
    ['behind nat', m.behindNat && m.natId ? `yes (nat id ${m.natId})` : yesNo(m.behindNat)],
    ['keepalive provisioned', yesNo(m.keepaliveProvisioned)],
    ['provisioning', provisioningText(m.provisioning)],
    ...(m.partialPathUnsupported ? ([['partial-path reads', 'not supported: subtrees are read name by name']] as [string, string][]) : []),
  ]);
  const events =
    m.cpeEvents.length === 0
      ? ''
      : `requests the CPE made on its own (newest first):\n${formatTable(['AT', 'METHOD', 'DETAIL'], m.cpeEvents.map((e) => [e.at ?? '-', e.method, JSON.stringify(e.detail)]))}`;
  const params =
    m.parameters.length === 0
      ? 'last known parameters: none (stbctl refresh ID reads them)\n'
      : `last known parameters:\n${formatTable(['NAME', 'VALUE', 'UPDATED'], m.parameters.map((p) => [p.name, p.value, p.updatedAt ?? '-']))}`;
  return `\nmanagement (TR-069):\n${pairs}\n${events}${params}`;
}

/** Why provisioning stopped (or is retrying), with the CPE's own fault and the parameters it named. */
function provisioningText(p: ManagementView['provisioning']): string {
  if (!p) return '-';
  const f = p.lastFault;
  const fault = f ? `: fault ${f.code} ${f.message}${(f.details ?? []).map((d) => `; ${d.parameter}: ${d.code} ${d.message}`).join('')} (task ${f.task})` : '';
  const pending = p.credentialsPending ? ', own credentials being pushed' : '';
  if (p.state === 'stopped') return `stopped after ${plural(p.failures, 'refusal')}${fault}; 'stbctl provision ID' asks again${pending}`;
  if (p.state === 'retrying') return `retrying (${plural(p.failures, 'refusal')} so far)${fault}${pending}`;
  return `ok${pending}`;
}

export function deviceCommands(program: Command): void {
  const device = program.command('device').description('register, inspect and remove devices');

  device
    .command('add <id>')
    .description('register a device; credentials not given are generated and shown once')
    .option('--stun-username <u>', 'STUN USERNAME (default: the device id)')
    .option('--stun-password <p>', 'STUN password (default: generated)')
    .option('--cr-username <u>', 'connection-request username (default: the device id)')
    .option('--cr-password <p>', 'connection-request password (default: generated)')
    .option('--cwmp-username <u>', 'CWMP HTTP username (default: the device id)')
    .option('--cwmp-password <p>', 'CWMP HTTP password (default: generated)')
    .action(async (id: string, opts: Partial<DeviceCredentials>, cmd: Command) => {
      const ctx = contextOf(cmd);
      const created = await ctx.client.request<DeviceView & { credentials: DeviceCredentials }>('POST', '/v1/devices', { json: { id, ...opts } });
      if (ctx.json) return ctx.printJson(created);
      const c = created.credentials;
      ctx.print(`registered ${created.id}\n\ncredentials (shown only now; store them safely):\n`);
      ctx.print(
        formatPairs([
          ['stun username', c.stunUsername],
          ['stun password', c.stunPassword],
          ['cr username', c.crUsername],
          ['cr password', c.crPassword],
          ['cwmp username', c.cwmpUsername],
          ['cwmp password', c.cwmpPassword],
        ]),
      );
    });

  device
    .command('show <id>')
    .description('show one device: presence, usernames (never passwords), its last Inform and its last known parameter values')
    .action(async (id: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const d = await ctx.client.request<DeviceView & { management?: ManagementView }>('GET', path(id));
      if (ctx.json) return ctx.printJson(d);
      ctx.print(formatPairs(devicePairs(d)));
      if (d.management) ctx.print(managementText(d.management));
    });

  program
    .command('provision <id>')
    .description("provision a device again (STUN keepalives, its credentials) after it refused: the count of refusals starts over and the device is asked to call in")
    .action(async (id: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await ctx.client.request<{ device: string; called: boolean; message: string }>('POST', `${path(id)}/provision`);
      if (ctx.json) return ctx.printJson(r);
      ctx.print(`${r.device}: ${r.message}\n`);
    });

  device
    .command('list')
    .description('list all devices, or those a selector matches, in id order')
    .option('--online', 'only devices that are online now')
    .addOption(new Option('--where <expr>', WHERE_HELP).argParser(whereOption))
    .addHelpText('after', `\nExamples:\n  stbctl device list --where "productClass = 'STB-4K' AND softwareVersion < '3.2'"\n  stbctl device list --where "tag = 'pilot' AND lastInform < now() - 7d" --json`)
    .action(async (opts: { online?: boolean; where?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      // Page through the API and print as we go: the list may hold millions of devices. A page of a selection
      // may hold no device and still not be the last.
      let after: string | null = null;
      let printed = 0;
      do {
        const q: URLSearchParams = new URLSearchParams({ limit: '5000', ...(after === null ? {} : { after }), ...(opts.online ? { online: 'true' } : {}), ...(opts.where === undefined ? {} : { where: opts.where }) });
        const page: { devices: DeviceView[]; next: string | null } = await ctx.client.request('GET', `/v1/devices?${q}`);
        if (ctx.json) {
          const items = page.devices.map((d) => `  ${JSON.stringify(d)}`).join(',\n');
          if (items) ctx.print(`${printed === 0 ? '[\n' : ',\n'}${items}`);
        } else if (page.devices.length > 0 || (printed === 0 && page.next === null)) {
          // One table per page; the header only once.
          const rows = page.devices.map((d) => [d.id, d.online ? 'yes' : 'no', binding(d), d.natId ?? '-', d.lastSeen ?? 'never', tagsText(d)]);
          const table = formatTable(['ID', 'ONLINE', 'BINDING', 'NAT ID', 'LAST SEEN', 'TAGS'], rows);
          ctx.print(printed === 0 ? table : table.slice(table.indexOf('\n') + 1));
        }
        printed += page.devices.length;
        after = page.next;
      } while (after !== null);
      if (ctx.json) ctx.print(printed === 0 ? '[]\n' : '\n]\n');
    });

  device
    .command('remove <id>')
    .description('remove a device and everything the daemon knows about it')
    .action(async (id: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      await ctx.client.request('DELETE', path(id));
      if (ctx.json) return ctx.printJson({ removed: id });
      ctx.print(`removed ${id}\n`);
    });
}
