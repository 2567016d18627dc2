import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type * as Tap from 'tap';
import { firmwareImage, firmwareVersionOf } from '../src/sim/firmware-image.js';
import { Simulator, SimOptionError, type SimulatorOptions } from '../src/sim/index.js';
import { resolveOptions } from '../src/sim/options.js';
import { run, spawnDaemon, STBCTL, STBSIM, writeTestConfig } from './helpers/daemon.js';

/**
 * Firmware through the whole loop, nothing stood in: stbsim make-firmware → stbctl file add → the daemon's
 * file server → a Download task (stbctl download with the device's URL) → the simulated STB fetches it
 * for real, reboots into the new version and reports it; and the knobs that make STBs fail, die or lie.
 */

const SV = 'InternetGatewayDevice.DeviceInfo.SoftwareVersion';

async function setup(t: Tap.Test) {
  const dir = t.testdir();
  const config = writeTestConfig(dir, { cwmp: { connection_request_retry: '200ms', connection_request_timeout: '10s' } });
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const ctl = (...args: string[]) => run(STBCTL, ['--config', config, '--api', daemon.url, ...args]);
  const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
  const api = async (path: string) => (await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json() as Promise<any>;
  const known = async (id: string) => Object.fromEntries(((await api(`/v1/devices/${id}`)).management.parameters as { name: string; value: string }[]).map((p) => [p.name, p.value]));
  const start = async (o: SimulatorOptions) => {
    const sim = new Simulator({ acsUrl: `http://127.0.0.1:${daemon.cwmpPort}/`, stun: { host: '127.0.0.1', port: daemon.stunPort }, keepaliveIntervalS: 1, rebootDelayMs: 50, downloadDelayMs: 0, ...o });
    writeFileSync(join(dir, `${o.prefix}.csv`), sim.csv());
    const r = await ctl('devices', 'import', join(dir, `${o.prefix}.csv`));
    if (r.code !== 0) throw new Error(r.stderr);
    await sim.start();
    t.teardown(() => sim.stop());
    await sim.waitFor('stun-binding', (e) => e.device === sim.devices.at(-1)!.id);
    await sim.idle();
    return sim;
  };
  /** A firmware image made by stbsim, added to the daemon. */
  const addFirmware = async (version: string, size: number) => {
    const file = join(dir, `fw-${version}.bin`);
    const made = await run(STBSIM, ['make-firmware', version, file, '--size', String(size)]);
    if (made.code !== 0) throw new Error(made.stderr);
    const added = await ctl('file', 'add', file, '--type', 'firmware', '--version', version, '--json');
    if (added.code !== 0) throw new Error(added.stderr);
    return JSON.parse(added.stdout) as { id: string; size: number };
  };
  /** Queues a Download of the file for the device, with its own URL; returns the task id. */
  const download = async (fileId: string, device: string, fileSize: number, edit = (url: string) => url) => {
    const url = edit((await ctl('file', 'url', fileId, device)).stdout.trim());
    const r = await ctl('download', device, url, '--file-size', String(fileSize), '--json');
    if (r.code !== 0) throw new Error(r.stderr);
    return { task: JSON.parse(r.stdout).id as number, url };
  };
  const taskOf = async (id: number) => (await ctl('task', 'show', String(id), '--json')).stdout;
  return { dir, ctl, api, known, start, addFirmware, download, taskOf };
}

t.test('a real Download: the STB fetches the image, reboots into its version, reports the transfer; stbd sees the new version', async (t) => {
  const { ctl, known, start, addFirmware, download, taskOf } = await setup(t);
  const sim = await start({ count: 1, prefix: 'fw-' });
  const device = sim.device('fw-0001')!;
  t.equal(device.softwareVersion, '1.0.0');
  const file = await addFirmware('2.1.0', 200_000);
  const downloaded = sim.waitFor('download', (e) => e.device === 'fw-0001', 20_000);
  const booted = sim.waitFor('session-end', (e) => e.device === 'fw-0001' && e.events.some((ev) => ev.code === '1 BOOT'), 20_000);
  const { task } = await download(file.id, 'fw-0001', file.size);
  t.match(await downloaded, { ok: true, bytes: 200_000, status: 200, firmware: '2.1.0', outcome: 'installed' });
  const session = await booted;
  t.ok(session.ok);
  t.same(session.events.map((e) => e.code).sort(), ['1 BOOT', '7 TRANSFER COMPLETE', 'M Download'], 'the first session after the reboot: BOOT and the transfer, as a real CPE');
  t.equal(device.softwareVersion, '2.1.0');
  t.equal((await known('fw-0001'))[SV], '2.1.0', 'stbd got the new version in the Inform');
  const shown = JSON.parse(await taskOf(task));
  t.match(shown, { status: 'done', result: { transfer: { faultCode: 0 } } });
  t.equal(sim.stats.firmwareInstalled, 1);
  t.match((await ctl('device', 'show', 'fw-0001')).stdout, /2\.1\.0/);
});

t.test('knobs and checks: a failure rate, a FileSize that does not match, a URL for another device, a box that lies, one that dies', async (t) => {
  const { ctl, known, start, addFirmware, download, taskOf } = await setup(t);
  const file = await addFirmware('3.0.0', 4096);
  const failing = await start({ count: 1, prefix: 'fail-', downloadFailRate: 1 });
  const plain = await start({ count: 2, prefix: 'plain-' });
  const liar = await start({ count: 1, prefix: 'liar-', lieRate: 1 });
  const brick = await start({ count: 1, prefix: 'brick-', brickRate: 1 });

  // --download-fail-rate 1: the file arrives, the STB says it failed, no reboot.
  let e = failing.waitFor('download', undefined, 20_000);
  let tc = failing.waitFor('session-end', (s) => s.events.some((ev) => ev.code === '7 TRANSFER COMPLETE'), 20_000);
  let { task } = await download(file.id, 'fail-0001', file.size);
  t.match(await e, { ok: false, bytes: 4096, outcome: 'failed', error: /--download-fail-rate/ });
  t.notOk((await tc).events.some((ev) => ev.code === '1 BOOT'), 'no reboot');
  t.match(JSON.parse(await taskOf(task)), { status: 'fault', fault: { code: 9010, message: /simulated failure/ } });
  t.equal(failing.device('fail-0001')!.softwareVersion, '1.0.0');

  // FileSize says otherwise: refused, reported.
  e = plain.waitFor('download', (d) => d.device === 'plain-0001', 20_000);
  tc = plain.waitFor('session-end', (s) => s.device === 'plain-0001' && s.events.some((ev) => ev.code === '7 TRANSFER COMPLETE'), 20_000);
  ({ task } = await download(file.id, 'plain-0001', file.size + 1));
  t.match(await e, { ok: false, outcome: 'failed', error: 'got 4096 bytes, FileSize says 4097' });
  await tc;
  t.match(JSON.parse(await taskOf(task)), { status: 'fault', fault: { code: 9010, message: /FileSize says 4097/ } });

  // plain-0002 is sent a URL with plain-0001's token: the file server refuses it (403), the STB reports the failure.
  e = plain.waitFor('download', (d) => d.device === 'plain-0002', 20_000);
  tc = plain.waitFor('session-end', (s) => s.device === 'plain-0002' && s.events.some((ev) => ev.code === '7 TRANSFER COMPLETE'), 20_000);
  const token = new URL((await ctl('file', 'url', file.id, 'plain-0001')).stdout.trim()).pathname.split('/').at(-1)!;
  ({ task } = await download(file.id, 'plain-0002', file.size, (url) => url.replace(/[^/]+$/, token)));
  t.match(await e, { ok: false, status: 403, bytes: 0, outcome: 'failed', error: 'HTTP 403' });
  await tc;
  t.match(JSON.parse(await taskOf(task)), { status: 'fault', fault: { code: 9010, message: /HTTP 403/ } });
  t.equal(plain.device('plain-0002')!.softwareVersion, '1.0.0');

  // --lie-rate 1: success reported, a reboot, and the old version in the Inform.
  e = liar.waitFor('download', undefined, 20_000);
  const liarBoot = liar.waitFor('session-end', (s) => s.events.some((ev) => ev.code === '1 BOOT'), 20_000);
  ({ task } = await download(file.id, 'liar-0001', file.size));
  t.match(await e, { ok: true, firmware: '3.0.0', outcome: 'lied' });
  await liarBoot;
  t.match(JSON.parse(await taskOf(task)), { status: 'done', result: { transfer: { faultCode: 0 } } });
  t.equal((await known('liar-0001'))[SV], '1.0.0', 'it came back on its old version');

  // --brick-rate 1: down for good, while a healthy box with the same reboot delay is back.
  const bricked = brick.waitFor('download', undefined, 20_000);
  const healthy = plain.waitFor('session-end', (s) => s.device === 'plain-0002' && s.events.some((ev) => ev.code === '1 BOOT'), 20_000);
  await download(file.id, 'brick-0001', file.size);
  await download(file.id, 'plain-0002', file.size);
  t.match(await bricked, { ok: true, outcome: 'bricked' });
  await healthy;
  t.equal(plain.device('plain-0002')!.softwareVersion, '3.0.0');
  const dead = brick.device('brick-0001')!;
  t.ok(dead.bricked && dead.rebooting, 'the bricked box is still down');
  t.equal(brick.stats.bricked, 1);
  t.equal((await known('brick-0001'))[SV], '1.0.0');
});

t.test('firmware images: the header line, padding, the version read back; bad input refused', async (t) => {
  const image = firmwareImage('2.1.0', 1000);
  t.equal(image.length, 1000);
  t.equal(image.subarray(0, 25).toString(), 'STBSIM-FIRMWARE version=2');
  t.equal(firmwareVersionOf(image), '2.1.0');
  t.equal(firmwareVersionOf(Buffer.from('GARBAGE version=2\n')), undefined);
  t.equal(firmwareVersionOf(firmwareImage('x')), 'x', 'no padding: the header alone');
  t.throws(() => firmwareImage('2 1'), RangeError);
  t.throws(() => firmwareImage('2', 10), /at least 26 bytes/);
  for (const k of ['downloadFailRate', 'brickRate', 'lieRate'] as const) t.throws(() => resolveOptions({ [k]: 1.5 }), SimOptionError);
  const cli = await run(STBSIM, ['make-firmware', '1.2', join(t.testdir(), 'x.bin'), '--size', 'lots']);
  t.equal(cli.code, 2);
  t.match(cli.stderr, /--size: expected a size/);
});
