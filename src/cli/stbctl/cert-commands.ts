import type { Command } from 'commander';
import { CliError } from './cli-error.js';
import { contextOf } from './context.js';
import { formatPairs, formatTable } from './output.js';

/** A certificate as the admin API shows it. Times are as the API gives them (ISO). */
interface CertView {
  id: string;
  device: string;
  version: number;
  status: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  renewAt: string;
  createdAt: string;
  updatedAt: string;
  noticeTask: number | null;
}

interface VersionView {
  version: number;
  serial: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  reason: string;
}

const certPath = (id: string) => `/v1/certificates/${encodeURIComponent(id)}`;

/** An empty operand would address another route (`/v1/certificates/`): refuse it as a usage error. */
function operand(name: string, v: string): string {
  if (v.trim() === '') throw new CliError('bad-usage', `${name} must not be empty`);
  return v;
}

const text = (v: unknown): string => (v === null || v === undefined ? '-' : String(v));

function certPairs(c: CertView): [string, string][] {
  return [
    ['id', c.id],
    ['device', c.device],
    ['status', c.status],
    ['version', String(c.version)],
    ['serial', c.serial],
    ['not before', text(c.notBefore)],
    ['not after', text(c.notAfter)],
    ['renew at', text(c.renewAt)],
    ['update notice task', text(c.noticeTask)],
    ['created', text(c.createdAt)],
    ['updated', text(c.updatedAt)],
  ];
}

const CERT_HELP = `
Certificates are the media-access certificates the proxy keeps for STBs (seed 002). Statuses: valid,
update-pending (renewal due: the STB was sent a "certificate needs update" notice), expired, revoked.
Certificate ids are created here (or by the media system); an STB creates none but its derived id.
Exit codes: 0 success, 1 the operation failed (e.g. not-found, revoked, unknown-device, conflict,
limit-reached, ca-unavailable),
2 the command line was wrong.`;

/** The certificate proxy, as an operator sees it. */
export function certCommands(program: Command): void {
  const certs = program.command('certs').description('media-access certificates kept by the certificate proxy').addHelpText('after', CERT_HELP);

  certs
    .command('list')
    .description('every certificate (or one STB\'s), in id order: version, status, expiry and renewal time')
    .option('--device <id>', 'only the certificates of this STB')
    .action(async (opts: { device?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const all: CertView[] = [];
      let after = '';
      for (;;) {
        const q = new URLSearchParams({ after, limit: '1000', ...(opts.device === undefined ? {} : { device: opts.device }) });
        const page = await ctx.client.request<{ certificates: CertView[]; next: string | null }>('GET', `/v1/certificates?${q}`);
        all.push(...page.certificates);
        if (page.next === null || page.next === undefined || page.certificates.length === 0) break;
        after = page.next;
      }
      if (ctx.json) return ctx.printJson(all);
      ctx.print(formatTable(['ID', 'DEVICE', 'VERSION', 'STATUS', 'NOT AFTER', 'RENEW AT'], all.map((c) => [c.id, c.device, String(c.version), c.status, text(c.notAfter), text(c.renewAt)])));
    });

  certs
    .command('show <cert-id>')
    .description('one certificate: status, validity, renewal time, and its version history')
    .action(async (id: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const c = await ctx.client.request<CertView & { versions: VersionView[] }>('GET', certPath(operand('CERT_ID', id)));
      if (ctx.json) return ctx.printJson(c);
      ctx.print(formatPairs(certPairs(c)));
      const versions = c.versions ?? [];
      ctx.print(`\nversions:\n${formatTable(['VERSION', 'SERIAL', 'NOT BEFORE', 'NOT AFTER', 'ISSUED', 'REASON'], versions.map((v) => [String(v.version), v.serial, text(v.notBefore), text(v.notAfter), text(v.issuedAt), v.reason]))}`);
    });

  certs
    .command('issue <stb-id>')
    .description('have the CA issue a new certificate for a registered STB now (its id generated unless --id)')
    .option('--id <cert-id>', 'the certificate id (as the media system knows it)')
    .action(async (stbId: string, opts: { id?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const body = { device: operand('STB_ID', stbId), ...(opts.id === undefined ? {} : { id: operand('--id', opts.id) }) };
      const c = await ctx.client.request<CertView>('POST', '/v1/certificates', { json: body });
      if (ctx.json) return ctx.printJson({ certId: c.id, device: c.device, version: c.version, status: c.status, notAfter: c.notAfter, renewAt: c.renewAt });
      ctx.print(`certificate ${c.id} issued for ${c.device} (version ${c.version}, valid until ${text(c.notAfter)}, renewal due ${text(c.renewAt)})\n`);
    });

  certs
    .command('renew <cert-id>')
    .description('have the CA issue the next version now (the STB gets it at its next fetch)')
    .action(async (id: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const c = await ctx.client.request<CertView>('POST', `${certPath(operand('CERT_ID', id))}/renew`);
      if (ctx.json) return ctx.printJson(c);
      ctx.print(`certificate ${c.id} renewed: version ${c.version}, valid until ${text(c.notAfter)}\n`);
    });

  certs
    .command('revoke <cert-id>')
    .description('revoke a certificate: the proxy no longer serves its key and the media system refuses it')
    .action(async (id: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const c = await ctx.client.request<CertView>('POST', `${certPath(operand('CERT_ID', id))}/revoke`);
      if (ctx.json) return ctx.printJson(c);
      ctx.print(`certificate ${c.id} revoked (${c.device}, version ${c.version})\n`);
    });
}
