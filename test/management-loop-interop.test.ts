import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { OUI, PRODUCT_CLASS } from '../src/sim/data-model.js';
import { run, spawnDaemon, STBCTL, STBSIM, writeTestConfig } from './helpers/daemon.js';

/**
 * The management loop with the simulator's interoperability knobs, nothing stood in: the real daemon,
 * bin/stbsim as a process (--factory-credentials, --no-partial-path, --content-type) and bin/stbctl, whose
 * output is what is checked. Conditions are awaited by bounded polling of the API.
 */

const IGD = 'InternetGatewayDevice.';

interface Scope {
  testdir(): string;
  teardown(fn: () => unknown): void;
}

/** `bootstrap`: the lines of a bootstrap credentials file (written with mode 0600) plus auto_register. */
async function setup(t: Scope, opts: { bootstrap?: string } = {}) {
  const dir = t.testdir();
  const cwmp: Record<string, string | boolean> = { connection_request_retry: '200ms', connection_request_timeout: '10s' };
  if (opts.bootstrap !== undefined) {
    const file = join(dir, 'bootstrap.creds');
    writeFileSync(file, opts.bootstrap, { mode: 0o600 });
    chmodSync(file, 0o600); // whatever the umask
    Object.assign(cwmp, { bootstrap_credentials_file: file, auto_register: true });
  }
  const config = writeTestConfig(dir, { cwmp });
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
  const ctl = (...args: string[]) => run(STBCTL, ['--config', config, '--api', daemon.url, ...args]);
  const api = async (path: string): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${daemon.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const acsUrl = `http://127.0.0.1:${daemon.cwmpPort}/`;
  /** bin/stbsim with these flags (and --acs); resolves once it has started its STBs. */
  const stbsim = (t: Scope, args: readonly string[]) => startStbsim(t, ['--acs', acsUrl, ...args]);
  /** Options for `stbsim --register` against this daemon. */
  const register = ['--register', '--config', config, '--api', daemon.url];
  return { daemon, config, ctl, api, stbsim, register };
}

/** Runs bin/stbsim until the test ends (SIGINT, SIGKILL if it lingers); resolves after its start-up line. */
async function startStbsim(t: Scope, args: readonly string[]): Promise<{ stderr(): string }> {
  const env = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'STBD_API', 'STBD_TOKEN']) delete env[k];
  const proc = spawn(STBSIM, [...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  await new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (/→ ACS/.test(stderr)) resolve();
    });
    void exited.then((code) => reject(new Error(`stbsim exited with ${code}: ${stderr}`)));
  });
  return { stderr: () => stderr };
}

/** Polls `probe` every 50 ms until it returns something other than undefined/false, for at most `ms`. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface TaskJson {
  id: number;
  kind: string;
  origin: string;
  status: string;
  request: { values?: { name: string; value: string }[] };
}

t.test('--factory-credentials: three STBs on one factory pair are registered by DeviceId, provisioned, managed; a factory reset starts over', async (t) => {
  const { daemon, ctl, api, stbsim } = await setup(t, { bootstrap: '# the model\'s factory pair\nfactory:secret\n' });
  // Behind NAT (as loopback cannot be, --behind-nat says so): stbd provisions STUN keepalives along with the
  // credentials, and connection requests go over UDP to the binding.
  const sim = await stbsim(t, ['--factory-credentials', 'factory:secret', '--count', '3', '--stun', `127.0.0.1:${daemon.stunPort}`, '--behind-nat', '--keepalive-interval', '1', '--reboot-delay', '50', '--retry-delay', '500']);
  const ids = ['sim-0001', 'sim-0002', 'sim-0003'].map((serial) => `${OUI}-${PRODUCT_CLASS}-${serial}`);

  const listed = await eventually('all three to be registered', async () => {
    const { body } = await api('/v1/devices');
    const have = (body.devices as { id: string }[]).map((d) => d.id);
    return ids.every((id) => have.includes(id)) && have;
  });
  t.same(listed, ids, 'registered under their DeviceIds, and nothing else (no sim-000N)');

  /** The device's provisioning tasks (newest first) once one newer than `after` is done. */
  const provisioned = (id: string, after = 0) =>
    eventually(`provisioning of ${id} (after task ${after})`, async () => {
      const tasks = (await api(`/v1/devices/${encodeURIComponent(id)}/tasks`)).body.tasks as TaskJson[];
      const mine = tasks.filter((x) => x.origin === 'provisioning');
      return mine.some((x) => x.id > after && x.status === 'done') && mine;
    });
  /** The device once a keepalive (with the STUN credentials stbd gave it) after `since` has kept it online. */
  const online = (id: string, since = '1970-01-01T00:00:00Z') =>
    eventually(`${id} online, a keepalive after ${since}`, async () => {
      const d = (await api(`/v1/devices/${encodeURIComponent(id)}`)).body;
      return d.online === true && Date.parse(d.lastSeen) > Date.parse(since) && d;
    });
  const valuesOf = (task: TaskJson) => Object.fromEntries((task.request.values ?? []).map((v) => [v.name.replace(`${IGD}ManagementServer.`, ''), v.value]));
  const first = new Map<string, TaskJson>();
  for (const id of ids) {
    const tasks = await provisioned(id);
    t.equal(tasks.length, 1, `${id}: one provisioning task`);
    const task = tasks[0]!;
    first.set(id, task);
    t.match(task, { kind: 'setParameterValues', status: 'done' });
    const values = valuesOf(task);
    t.equal(values['Username'], id, `${id}: ManagementServer.Username is the device id`);
    for (const name of ['Password', 'ConnectionRequestUsername', 'ConnectionRequestPassword', 'STUNEnable', 'STUNUsername', 'STUNPassword']) t.ok(name in values, `${id}: sets ${name}`);
    t.equal(values['STUNServerPort'], String(daemon.stunPort));
    const shown = await online(id);
    t.equal(shown.cwmpUsername, id);
    t.equal(shown.management.keepaliveProvisioned, true);
  }

  const [a] = ids as [string];
  const rebooted = await ctl('reboot', a, '--wait', '20');
  t.equal(rebooted.code, 0, rebooted.stderr);
  t.equal(rebooted.stdout, `done: ${a} accepted the reboot\n`);
  await eventually(`${a} to come back from the reboot with its own credentials`, async () => (await api(`/v1/devices/${encodeURIComponent(a)}`)).body.management?.lastEvents?.includes('M Reboot'));
  const serial = await ctl('get', a, `${IGD}DeviceInfo.SerialNumber`, '--wait', '20');
  t.equal(serial.code, 0, serial.stderr);
  t.match(serial.stdout, /InternetGatewayDevice\.DeviceInfo\.SerialNumber\s+sim-0001/);

  const reset = await ctl('factory-reset', a, '--wait', '20');
  t.equal(reset.code, 0, reset.stderr);
  t.equal(reset.stdout, `done: ${a} accepted the factory reset\n`);
  const again = await provisioned(a, first.get(a)!.id);
  t.equal(again.length, 2, 'a new provisioning after the factory reset');
  const renewed = valuesOf(again[0]!);
  t.equal(renewed['Username'], a);
  t.ok('Password' in renewed && 'STUNUsername' in renewed && 'ConnectionRequestPassword' in renewed, 'new credentials and the keepalive settings again (the reset lost them)');
  await online(a, (again[0] as TaskJson & { finishedAt: string }).finishedAt);
  const state = (await api(`/v1/devices/${encodeURIComponent(a)}`)).body;
  t.match(state.management.lastEvents, ['0 BOOTSTRAP', '1 BOOT'], 'it came back with the factory pair: 0 BOOTSTRAP');
  t.equal(state.cwmpUsername, a);
  const after = await ctl('get', a, `${IGD}DeviceInfo.`, '--wait', '20');
  t.equal(after.code, 0, after.stderr);
  t.match(after.stdout, /InternetGatewayDevice\.DeviceInfo\.SerialNumber\s+sim-0001/, 'managed again after its new credentials');
  const other = await ctl('get', ids[2]!, `${IGD}DeviceInfo.SerialNumber`, '--wait', '20');
  t.equal(other.code, 0, other.stderr);
  t.match(other.stdout, /InternetGatewayDevice\.DeviceInfo\.SerialNumber\s+sim-0003/, 'the others were left alone');
  for (const id of ids.slice(1)) {
    const tasks = ((await api(`/v1/devices/${encodeURIComponent(id)}/tasks`)).body.tasks as TaskJson[]).filter((x) => x.origin === 'provisioning');
    t.equal(tasks.length, 1, `${id}: still one provisioning task`);
  }

  const bootstrapLogins = daemon.logs.filter((l) => l.includes('bootstrap login with a factory credential') && l.includes(`"device":"${a}"`));
  t.equal(bootstrapLogins.length, 2, 'the daemon log shows the factory pair accepted twice for it: at first boot and after the reset');
  const log = daemon.logs.join('\n');
  t.notMatch(log, /wrong credentials/, 'no login was taken for wrong credentials');
  t.notMatch(log, /CWMP session refused/, `no session was refused (stbsim: ${sim.stderr()})`);
});

t.test('--no-partial-path: refresh and get of a subtree complete with values; the device is marked', async (t) => {
  const { daemon, ctl, api, stbsim, register } = await setup(t);
  await stbsim(t, [...register, '--prefix', 'np-', '--no-partial-path', '--stun', `127.0.0.1:${daemon.stunPort}`, '--keepalive-interval', '1']);
  await eventually('np-0001 online, its boot Inform read', async () => {
    const d = (await api('/v1/devices/np-0001')).body;
    return d?.online === true && d.management?.lastInformAt != null;
  });

  const info = await ctl('refresh', 'np-0001', `${IGD}DeviceInfo.`, '--wait', '20');
  t.equal(info.code, 0, info.stderr);
  t.match(info.stdout, /InternetGatewayDevice\.DeviceInfo\.SerialNumber\s+np-0001/);
  t.match(info.stdout, /InternetGatewayDevice\.DeviceInfo\.ProductClass\s+STB/);

  const got = await ctl('get', 'np-0001', `${IGD}DeviceInfo.`, '--wait', '20', '--json');
  t.equal(got.code, 0, got.stderr);
  const parameters = JSON.parse(got.stdout).result.parameters as { name: string; value: string }[];
  t.same(
    parameters.map((p) => p.name),
    info.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0]),
    'get of the partial path: the same parameters as refresh',
  );

  // The whole tree: more parameters than one batch of [cwmp] subtree_batch_size (32).
  const whole = await ctl('refresh', 'np-0001', '--wait', '20');
  t.equal(whole.code, 0, whole.stderr);
  const rows = whole.stdout.trim().split('\n').slice(1);
  t.ok(rows.length > 32, `the whole tree, ${rows.length} parameters`);
  t.match(whole.stdout, /InternetGatewayDevice\.ManagementServer\.PeriodicInformInterval\s+300/);

  const shown = await api('/v1/devices/np-0001');
  t.equal(shown.body.management.partialPathUnsupported, true);
  const show = await ctl('device', 'show', 'np-0001');
  t.match(show.stdout, /partial-path reads\s+not supported: subtrees are read name by name/);
  t.match(show.stdout, /InternetGatewayDevice\.DeviceInfo\.SerialNumber\s+np-0001/, 'device show lists the values read');
});

t.test('--content-type: odd, missing and ISO-8859-1 Content-Types; commands round trip', async (t) => {
  const { daemon, ctl, api, stbsim, register } = await setup(t);
  const kinds = [
    ['ct1-', 'text/xml charset=utf-8'],
    ['ct2-', ''],
    ['ct3-', 'text/xml; charset=ISO-8859-1'],
  ] as const;
  for (const [prefix, contentType] of kinds) await stbsim(t, [...register, '--prefix', prefix, '--content-type', contentType, '--stun', `127.0.0.1:${daemon.stunPort}`, '--keepalive-interval', '1']);
  const code = `${IGD}DeviceInfo.ProvisioningCode`;
  for (const [prefix, contentType] of kinds) {
    const id = `${prefix}0001`;
    const label = JSON.stringify(contentType);
    await eventually(`${id} online, its boot Inform read`, async () => {
      const d = (await api(`/v1/devices/${id}`)).body;
      return d?.online === true && d.management?.lastInformAt != null;
    });
    const got = await ctl('get', id, `${IGD}DeviceInfo.SerialNumber`, '--wait', '20');
    t.equal(got.code, 0, `${label}: stbctl get exits 0 ${got.stderr}`);
    t.match(got.stdout, new RegExp(`InternetGatewayDevice\\.DeviceInfo\\.SerialNumber\\s+${id}`), `${label}: get`);
    const set = await ctl('set', id, `${code}=café-${prefix}`, '--wait', '20');
    t.equal(set.code, 0, `${label}: stbctl set exits 0 ${set.stderr}`);
    t.equal(set.stdout, 'applied (status 0)\n', `${label}: set`);
    const back = await ctl('get', id, code, '--wait', '20');
    t.equal(back.code, 0, back.stderr);
    t.match(back.stdout, new RegExp(`ProvisioningCode\\s+café-${prefix}\\n`), `${label}: the value read back, "é" intact`);
  }
  t.notMatch(daemon.logs.join('\n'), /malformed CWMP body/);
});
