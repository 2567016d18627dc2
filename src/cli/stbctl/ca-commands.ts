import type { Command } from 'commander';
import { type CaCertificateView, caCertificateText } from '../../ca/ca-certificate.js';
import { contextOf } from './context.js';

export function caCommands(program: Command): void {
  program
    .command('ca')
    .description('the builtin certificate authority')
    .command('show')
    .description("print the builtin CA's subject, serial, validity and SHA-256 fingerprint, then its certificate as PEM; with --pem, only the PEM (e.g. > stbd-ca.pem, to install in STB trust stores)")
    .option('--pem', 'print only the certificate, PEM')
    .action(async (opts: { pem?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const ca = await ctx.client.request<CaCertificateView>('GET', '/v1/ca');
      if (ctx.json) return ctx.printJson(ca);
      ctx.print(opts.pem ? ca.pem : caCertificateText(ca));
    });
}
