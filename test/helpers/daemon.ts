import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { daemonStoreUrl } from './postgres.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const STBD = join(ROOT, 'bin', 'stbd');
export const STBCTL = join(ROOT, 'bin', 'stbctl');
export const STBSIM = join(ROOT, 'bin', 'stbsim');

export type ConfigOverrides = Record<string, Record<string, string | number | boolean | readonly string[]>>;

/**
 * Writes a config for a daemon that keeps everything in `dir` and listens on ephemeral ports of 127.0.0.1.
 * `overrides` adds or replaces keys, section by section.
 */
export function writeTestConfig(dir: string, overrides: ConfigOverrides = {}): string {
  const sections: ConfigOverrides = {
    store: { path: join(dir, 'stbd.db') },
    api: { listen: '127.0.0.1:0', token_file: join(dir, 'api.token'), bss_token_file: join(dir, 'bss.token') },
    // Tests use short passwords that say whose they are (stb-1-pw); the length rule has its own test.
    devices: { min_password_length: 1 },
    stun: { listen: '127.0.0.1:0' },
    // The built-in periodic Inform profile is off: tests count the tasks and sessions they cause (its own test turns it on).
    cwmp: { listen: '127.0.0.1:0', periodic_inform_profile: false },
    certs: { listen: '127.0.0.1:0', media_token_file: join(dir, 'media.token') },
    ca: { master_key_file: join(dir, 'master.key') },
    files: { dir: join(dir, 'files'), listen: '127.0.0.1:0' },
    log: { level: 'debug' },
  };
  // STBD_TEST_STORE=postgres: a new database of its own on the test process's PostgreSQL, unless the test names a store.
  const postgresUrl = overrides['store']?.['kind'] === undefined ? daemonStoreUrl() : undefined;
  if (postgresUrl !== undefined) sections['store'] = { ...sections['store'], kind: 'postgres', url: postgresUrl };
  for (const [name, keys] of Object.entries(overrides)) sections[name] = { ...sections[name], ...keys };
  const file = join(dir, 'stbd.toml');
  const toml = Object.entries(sections)
    .map(([name, keys]) => `[${name}]\n${Object.entries(keys).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n')}\n`)
    .join('');
  writeFileSync(file, toml);
  return file;
}

/**
 * The environment for bin/ programs: the test runner's loaders (NODE_OPTIONS) are left out, since the
 * programs run the built JavaScript, and so are STBD_* variables a developer may have set.
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'STBD_API', 'STBD_TOKEN', 'STBD_CONFIG']) delete env[k];
  return env;
}

export interface SpawnedDaemon {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** The UDP port of the STUN keepalive listener. */
  readonly stunPort: number;
  /** The TCP port of the CWMP endpoint. */
  readonly cwmpPort: number;
  /** The TCP port of the STB certificate endpoint (HTTPS). */
  readonly certsPort: number;
  /** Every line the daemon printed on stdout so far (JSON log lines). */
  readonly logs: string[];
  stderr(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs bin/stbd (the real, built daemon) and waits for its "stbd started" line. */
export async function spawnDaemon(configFile: string, opts: { wrap?: readonly string[] } = {}): Promise<SpawnedDaemon> {
  // `wrap` runs it under another command, e.g. `ip netns exec NS`.
  const [cmd, ...args] = [...(opts.wrap ?? []), STBD, '--config', configFile];
  const proc = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  const logs: string[] = [];
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const [port, stunPort, cwmpPort, certsPort] = await new Promise<[number, number, number, number]>((resolve, reject) => {
    // The "stbd started" line is logged at info: a config with a quieter [log] level would wait forever.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`stbd did not log "stbd started" within 15 s: ${stderr}`));
    }, 15_000);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      logs.push(line);
      let entry: { msg?: string; api?: string; cwmp?: string; certs?: string; stun?: { v4?: { port: number } } } = {};
      try {
        entry = JSON.parse(line);
      } catch {
        return; // not a log line
      }
      if (entry.msg === 'stbd started' && entry.api) {
        clearTimeout(timer);
        resolve([Number(entry.api.split(':').at(-1)), entry.stun?.v4?.port ?? 0, Number(entry.cwmp?.split(':').at(-1) ?? 0), Number(entry.certs?.split(':').at(-1) ?? 0)]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`stbd exited with ${code} before starting: ${stderr}`));
    });
  });
  return {
    proc,
    port,
    stunPort,
    cwmpPort,
    certsPort,
    url: `http://127.0.0.1:${port}`,
    logs,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a bin/ program to completion. */
export function run(bin: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...childEnv(), ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** How the test reaches a daemon in another network namespace: stbctl under `wrap`, the API through `fetch`. */
export interface Reach {
  readonly wrap?: readonly string[];
  readonly fetch?: (url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<Response>;
}

/**
 * stbctl against a spawned daemon (token from `config`'s token file, address from --api), and its API with
 * the admin token: `json` parses stdout, `api` the response body.
 */
export function clientsOf(config: string, daemon: SpawnedDaemon, tokenFile: string, via: Reach = {}) {
  const token = readFileSync(tokenFile, 'utf8').trim();
  const [bin, ...prefix] = [...(via.wrap ?? []), STBCTL];
  const ctl = (...args: string[]) => run(bin!, [...prefix, '--config', config, '--api', daemon.url, ...args]);
  const fetch = via.fetch ?? globalThis.fetch;
  const json = async (...args: string[]) => {
    const r = await ctl(...args, '--json');
    return { ...r, out: r.stdout ? JSON.parse(r.stdout) : undefined };
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${daemon.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  return { token, ctl, json, api };
}
