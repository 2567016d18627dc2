import { join } from 'node:path';
import type * as Tap from 'tap';
import { loadConfig } from '../../src/config/load.js';
import type { Task } from '../../src/management/task.js';
import { Simulator, type SimulatorOptions } from '../../src/sim/index.js';
import { type InProcessDaemon, startInProcess } from './in-process.js';

/** Campaigns against the in-process daemon (a clock the test moves) and simulated STBs over loopback. */
export interface Loop {
  readonly dir: string;
  readonly d: InProcessDaemon;
  readonly sim: Simulator;
  /** Campaign tasks in the order they were queued, and how many were open at most at once. */
  readonly queued: string[];
  readonly finished: string[];
  /** The daemon's clock at each campaign task queued. */
  readonly queuedAt: number[];
  maxOpen: number;
  /** Stops the daemon (once: the teardown does not stop it again). */
  stop(): Promise<void>;
}

export async function setup(t: Tap.Test, online: number, offline: readonly string[] = [], overrides: Record<string, Record<string, unknown>> = {}, extra: { sim?: Partial<SimulatorOptions> } = {}): Promise<Loop> {
  // Presence must not lapse while the test moves the clock by hours: the sims send keepalives in real time.
  const dir = t.testdir();
  const d = await startInProcess(dir, { stun: { offline_after: '30d' }, campaigns: { tick: '1s' }, cwmp: { connection_request_retry: '1s' }, ...overrides });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : d.daemon.stop()));
  const acsUrl = `http://127.0.0.1:${d.daemon.management.address!.port}/`;
  const sim = new Simulator({ count: online, prefix: 'stb-', acsUrl, stun: { host: '127.0.0.1', port: d.daemon.keepalive.addresses.v4!.port }, keepaliveIntervalS: 1, bootInform: false, ...extra.sim });
  for (const device of sim.devices) t.equal((await d.api('POST', '/v1/devices', { json: { id: device.id, ...device.credentials } })).status, 201);
  for (const id of offline) t.equal((await d.api('POST', '/v1/devices', { json: { id } })).status, 201);
  const bound = Promise.all(sim.devices.map((device) => sim.waitFor('stun-binding', (b) => b.device === device.id, 30_000)));
  await sim.start();
  t.teardown(() => sim.stop());
  await bound;
  const loop: Loop = {
    dir,
    d,
    sim,
    queued: [],
    finished: [],
    queuedAt: [],
    maxOpen: 0,
    stop: () => ((stopped = true), d.daemon.stop()),
  };
  let open = 0;
  d.daemon.management.tasks.subscribe({
    queued: (task: Task) => {
      if (task.origin !== 'campaign') return;
      loop.queued.push(task.deviceId);
      loop.queuedAt.push(d.clock.now());
      loop.maxOpen = Math.max(loop.maxOpen, ++open);
    },
    finished: (task: Task) => {
      if (task.origin !== 'campaign') return;
      loop.finished.push(task.deviceId);
      open--;
    },
  });
  return loop;
}

/** Moves the daemon's clock `stepMs` a round and lets its timers and the sims run, until `done()`; checks the cap every round. */
export async function run(t: Tap.Test, l: Loop, name: string, done: (show: any) => boolean, stepMs = 1000, cap = Infinity): Promise<any> {
  for (let i = 0; i < 400; i++) {
    const res = await l.d.api('GET', `/v1/campaigns/${name}`);
    if (res.status !== 200) throw new Error(`campaign show: ${res.status} ${JSON.stringify(res.body)}`);
    const show = res.body;
    if (show.counts['in-progress'] > cap) t.fail(`${show.counts['in-progress']} devices in progress, above the cap ${cap}`);
    if (done(show)) return show;
    l.d.clock.advance(stepMs);
    l.d.timers.fire();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`campaign ${name} never got there: ${JSON.stringify((await l.d.api('GET', `/v1/campaigns/${name}`)).body)}`);
}

/** `n` rounds of `stepMs` each. */
export async function rounds(l: Loop, n: number, stepMs: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    l.d.clock.advance(stepMs);
    l.d.timers.fire();
    await new Promise((r) => setTimeout(r, 25));
  }
}

export /** A port free on loopback now, for a daemon restarted on the same addresses. */
async function freePorts(): Promise<{ tcp: number; udp: number }> {
  const { createServer } = await import('node:net');
  const { createSocket } = await import('node:dgram');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const tcp = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const udp = socket.address().port;
  await new Promise<void>((r) => socket.close(r));
  return { tcp, udp };
}


/** The store a daemon of `dir` used (on PostgreSQL each config written gets a new database: a restart must name it). */
export function storeOf(dir: string): Record<string, string> {
  const store = loadConfig(join(dir, 'stbd.toml'), dir).store;
  return store.kind === 'postgres' ? { kind: 'postgres', url: store.url } : { path: store.path };
}
