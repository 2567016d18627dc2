/**
 * coturn's `turnserver` as a peer in bench:keepalive: the C STUN server operators compare stbd with, run as a
 * plain STUN server (Binding answers only) on loopback, pinned to the same core as stbd.
 */
import { type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { MAGIC_COOKIE } from '../src/stun/index.js';
import { onCore, sleep, start } from './processes.js';

/** The turnserver on PATH, or undefined. Looked up, not run: run without arguments it would start a server. */
export function findTurnserver(path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(':').filter(Boolean)) {
    const file = join(dir, 'turnserver');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A free UDP port on 127.0.0.1 (asked of the kernel, then released for turnserver to bind). */
async function freePort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Sends plain Binding Requests to `port` until one is answered (turnserver logs nothing to read from). */
async function answered(port: number, proc: ChildProcess, timeoutMs: number): Promise<boolean> {
  const socket = createSocket('udp4');
  let got = false;
  socket.on('message', (msg) => (got ||= msg.length >= 20 && msg.readUInt16BE(0) === 0x0101));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0);
  request.writeUInt32BE(MAGIC_COOKIE, 4);
  try {
    for (const deadline = Date.now() + timeoutMs; !got && Date.now() < deadline && proc.exitCode === null && proc.signalCode === null; ) {
      socket.send(request, port, '127.0.0.1');
      await sleep(100);
    }
    return got;
  } finally {
    socket.close();
  }
}

export type Coturn = { readonly proc: ChildProcess; readonly port: number } | { readonly skipped: string };

/**
 * Starts turnserver on `core`, STUN only: loopback, one UDP port, no TCP/TLS/DTLS, no authentication (a
 * Binding needs none), no telnet CLI, no configuration file, logging to a file in `dir` (not stdout) and
 * one relay thread. Resolves once it answers a Binding Request; `skipped` says why there is no peer row.
 */
export async function startCoturn(dir: string, core: number, path = process.env.PATH ?? ''): Promise<Coturn> {
  const turnserver = findTurnserver(path);
  if (!turnserver) return { skipped: 'turnserver is not on PATH (apt-get install coturn)' };
  const port = await freePort();
  // prettier-ignore
  const args = [
    '-n', '--listening-ip=127.0.0.1', `--listening-port=${port}`, '--stun-only', '--no-auth',
    '--no-tcp', '--no-tls', '--no-dtls', '--no-cli', '--relay-threads=1',
    `--log-file=${join(dir, 'turnserver.log')}`, '--simple-log', '--no-stdout-log', `--pidfile=${join(dir, 'turnserver.pid')}`,
  ];
  const proc = start(onCore(core, [turnserver, ...args]));
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  proc.stdout!.resume();
  if (await answered(port, proc, 10_000)) return { proc, port };
  const exited = proc.exitCode !== null || proc.signalCode !== null;
  proc.kill('SIGKILL');
  const what = exited ? `exited (${proc.exitCode ?? proc.signalCode}) before answering` : `did not answer a Binding Request on 127.0.0.1:${port} within 10 s`;
  return { skipped: `${turnserver} ${what}${stderr ? `: ${stderr.trim().split('\n').slice(0, 3).join(' / ')}` : ''}` };
}
