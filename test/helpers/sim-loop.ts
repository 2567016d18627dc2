import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Simulator } from '../../src/sim/index.js';
import { type ConfigOverrides, run, spawnDaemon, STBCTL, writeTestConfig } from './daemon.js';

/**
 * A daemon (a process) for the simulator's boxes: stbctl and the API against it, `start` imports a
 * simulator's devices and boots them until they are idle. Connection requests retried quickly.
 */
export async function simLoop(t: { testdir(): string; teardown(fn: () => unknown): void }, overrides: ConfigOverrides = {}) {
  const dir = t.testdir();
  const config = writeTestConfig(dir, { ...overrides, cwmp: { connection_request_retry: '200ms', connection_request_timeout: '10s', ...overrides['cwmp'] } });
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const ctl = (...args: string[]) => run(STBCTL, ['--config', config, '--api', daemon.url, ...args]);
  const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
  const api = async (path: string) => (await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<any>;
  const start = async (sim: Simulator) => {
    writeFileSync(join(dir, 'devices.csv'), sim.csv());
    const r = await ctl('devices', 'import', join(dir, 'devices.csv'));
    if (r.code !== 0) throw new Error(r.stderr);
    await sim.start();
    t.teardown(() => sim.stop());
    await sim.waitFor('stun-binding', (e) => e.device === sim.devices.at(-1)!.id);
    await sim.idle();
  };
  /** The device's last known values, as the daemon shows them. */
  const known = async (id: string) => Object.fromEntries(((await api(`/v1/devices/${id}`)).management.parameters as { name: string; value: string }[]).map((p) => [p.name, p.value]));
  return { dir, daemon, ctl, api, start, known, acsUrl: `http://127.0.0.1:${daemon.cwmpPort}/`, stun: { host: '127.0.0.1', port: daemon.stunPort } };
}
