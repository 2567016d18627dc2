import { spawn } from 'node:child_process';
import t from 'tap';
import { run, spawnDaemon, STBCTL, STBSIM, writeTestConfig } from './helpers/daemon.js';

/**
 * stbd, stbctl and stbsim use nothing Node deprecates: run with --throw-deprecation (and
 * --pending-deprecation, for what Node 22 and 24 already warn about at run time), a deprecated call
 * throws instead of warning, so start-up, a keepalive, an Inform session, a command through the API and
 * the CLI, and a clean stop would each fail here. CI runs this on Node 20 (docs/operations.md, "Node.js").
 */
const NODE_OPTIONS = '--throw-deprecation --pending-deprecation';
/**
 * Runs a program with exactly these NODE_OPTIONS. Through env(1): tap adds its coverage loader to the
 * NODE_OPTIONS of every child it sees spawned, and that loader itself uses a deprecated API (process.binding).
 */
const WITH_FLAGS = ['env', `NODE_OPTIONS=${NODE_OPTIONS}`];
const deprecated = /DeprecationWarning|\[DEP\d+\]/;

t.test('the flags make a deprecated call fail the program', async (t) => {
  // DEP0005 (Buffer()): a runtime deprecation on every supported Node, for code outside node_modules.
  const r = await run(WITH_FLAGS[0]!, [...WITH_FLAGS.slice(1), process.execPath, '-e', 'new Buffer(1)']);
  t.not(r.code, 0);
  t.match(r.stderr, /DEP0005/);
});

t.test('start-up, keepalives, an Inform session, a command and stop use nothing deprecated', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir, { log: { level: 'info' } });
  const daemon = await spawnDaemon(config, { wrap: WITH_FLAGS });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : daemon.stop('SIGKILL')));
  const ctl = (...args: string[]) => run(WITH_FLAGS[0]!, [...WITH_FLAGS.slice(1), STBCTL, '--config', config, '--api', daemon.url, ...args]);

  t.match((await ctl('status')).stdout, /^stbd\s+ok/, 'stbctl status');
  // Two STBs: registered through the API, each Informs (a Digest-authenticated session) and sends
  // keepalives (challenged, then signed: MESSAGE-INTEGRITY both ways).
  const sim = spawn(
    WITH_FLAGS[0]!,
    [...WITH_FLAGS.slice(1), STBSIM, '--register', '--config', config, '--api', daemon.url, '--count', '2', '--acs', `http://127.0.0.1:${daemon.cwmpPort}/`, '--stun', `127.0.0.1:${daemon.stunPort}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let simErr = '';
  sim.stderr!.on('data', (c: Buffer) => (simErr += c.toString()));
  const simExited = new Promise<number | null>((resolve) => sim.once('exit', (code) => resolve(code)));
  t.teardown(() => void sim.kill('SIGKILL'));

  const deadline = Date.now() + 30_000;
  let shown: { online?: boolean; management?: { lastInformAt?: unknown } } = {};
  while (!(shown.online && shown.management?.lastInformAt) && Date.now() < deadline && sim.exitCode === null) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const r = await ctl('device', 'show', 'sim-0002', '--json');
    if (r.code === 0) shown = JSON.parse(r.stdout);
  }
  t.ok(shown.online, `sim-0002 is online by its keepalives: ${simErr}`);
  t.ok(shown.management?.lastInformAt, 'and has Informed');

  const get = await ctl('get', 'sim-0002', 'InternetGatewayDevice.DeviceInfo.', '--wait', '30');
  t.equal(get.code, 0, get.stderr);
  t.match(get.stdout, /InternetGatewayDevice\.DeviceInfo\.SoftwareVersion\s+\S+/, 'a command round trip: connection request, session, result');

  sim.kill('SIGINT');
  t.equal(await simExited, 0, 'stbsim stops cleanly');
  stopped = true;
  t.equal(await daemon.stop('SIGTERM'), 0, 'stbd stops cleanly');
  for (const [who, text] of [['stbd', daemon.stderr() + daemon.logs.join('\n')], ['stbsim', simErr]] as const) {
    t.notMatch(text, deprecated, `${who} printed no deprecation`);
  }
});
