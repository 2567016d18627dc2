import type { Command } from 'commander';
import { CliError } from './cli-error.js';

/** "stbctl task show": the words that reach this command. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The hint every usage error ends with. */
export const seeHelp = (cmd: Command): string => `see '${commandPath(cmd)} --help'`;

/**
 * Commander's own usage errors (unknown option, missing argument, bad value) become a bad-usage CliError
 * naming the command's help: one line that says what is wrong, not the whole help text burying it.
 * Each command gets its own callback, since commander's error does not say which command raised it.
 */
export function oneLineUsageErrors(cmd: Command): void {
  cmd.exitOverride((err) => {
    // --help, --version, and help shown for a bare command group: commander's own output stands.
    if (err.exitCode === 0 || err.code === 'commander.help') throw err;
    const message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
    throw new CliError('bad-usage', `${message}; ${seeHelp(cmd)}`);
  });
  for (const sub of cmd.commands) oneLineUsageErrors(sub);
}
