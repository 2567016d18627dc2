import type { Command } from 'commander';
import { ApiClient } from './api-client.js';
import { resolveTarget, type TargetOptions } from './target.js';

/** What every stbctl command gets: the API client, and whether to print JSON. */
export interface CommandContext {
  readonly client: ApiClient;
  readonly json: boolean;
  print(text: string): void;
  printJson(value: unknown): void;
  /** The exit code once the command returns normally (a command that throws exits 1 or 2 instead). */
  setExitCode(code: number): void;
}

export function contextOf(cmd: Command): CommandContext {
  const opts = cmd.optsWithGlobals<TargetOptions & { json?: boolean }>();
  return {
    client: new ApiClient(resolveTarget(opts, process.env)),
    json: opts.json === true,
    print: (text) => process.stdout.write(text),
    printJson: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    setExitCode: (code) => void (process.exitCode = code),
  };
}
