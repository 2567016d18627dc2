import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { credentialsOf, DEVICE_CSV_HEADER } from '../src/sim/credentials.js';
import { ROOT, run, spawnDaemon, writeTestConfig } from './helpers/daemon.js';

const STBSIM = join(ROOT, 'bin', 'stbsim');

/** Starts bin/stbsim, waits for its start-up line on stderr, stops it with SIGINT. */
async function runUntilStarted(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const env = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'STBD_API', 'STBD_TOKEN']) delete env[k];
  const proc = spawn(STBSIM, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve) => {
    proc.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (/→ ACS/.test(stderr)) resolve();
    });
    void exited.then(() => resolve());
  });
  proc.kill('SIGINT');
  const code = await exited;
  return { code, stderr };
}

t.test('help, csv and usage errors', async (t) => {
  const help = await run(STBSIM, ['--help']);
  t.equal(help.code, 0);
  for (const flag of ['--count', '--prefix', '--start', '--secret', '--data-model', '--acs', '--auth', '--cwmp-version', '--inform-interval', '--keepalive-interval', '--reboot-delay', '--download-delay', '--session-timeout', '--behind-nat', '--advertise-host', '--http-cr', '--stun', '--no-boot-inform', '--loss', '--drop-cr', '--response-delay', '--fault-rate', '--bind', '--register', '--api', '--token', '--config', '--ca-file', '--cert', '--key']) {
    t.ok(help.stdout.includes(flag), `--help documents ${flag}`);
  }
  t.match(help.stdout, /\nExamples:\n {2}stbsim --count 100 --register --behind-nat/);
  t.match(help.stdout, /\nExit codes: 0 ok .*2 the command line was wrong\./);

  const csv = await run(STBSIM, ['csv', '--count', '2', '--prefix', 'box-', '--secret', 's3']);
  t.equal(csv.code, 0);
  const c = credentialsOf('s3', 'box-0002');
  t.equal(
    csv.stdout,
    `${DEVICE_CSV_HEADER}\n${['box-0001', 'box-0002']
      .map((id) => {
        const x = credentialsOf('s3', id);
        return `${id},${x.stunUsername},${x.stunPassword},${x.crUsername},${x.crPassword},${x.cwmpUsername},${x.cwmpPassword}\n`;
      })
      .join('')}`,
  );
  t.match(c.crPassword, /^[A-Za-z0-9_-]{24}$/);

  for (const [args, message] of [
    [['--count', '-1'], /--count must be an integer ≥ 1/],
    [['--count', 'many'], /--count/],
    [['--loss', '1.5'], /--loss must be a probability between 0 and 1/],
    [['--fault-rate', '-0.1'], /--fault-rate/],
    [['--stun', 'localhost'], /--stun must be HOST:PORT/],
    [['--stun', 'h:70000'], /--stun must be HOST:PORT/],
    [['--data-model', 'tr069'], /--data-model/],
    [['--bind', 'not-an-ip'], /--bind must be an IP address/],
    [['--acs', 'ftp://x'], /--acs must be an http:\/\/ URL/],
    [['--acs', 'https://127.0.0.1:7549/', '--cert', 'stb.crt'], /--cert and --key go together/],
    [['csv', '--count', '0'], /--count must be an integer ≥ 1/],
    [['frobnicate'], /too many arguments/],
    [['--bogus'], /unknown option/],
  ] as const) {
    const r = await run(STBSIM, [...args]);
    t.equal(r.code, 2, `${args.join(' ')} exits 2`);
    t.match(r.stderr, message);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});

t.test('runs until SIGINT; --register registers (and tolerates 409)', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop());
  const args = ['--register', '--config', config, '--api', daemon.url, '--count', '2', '--acs', 'http://127.0.0.1:9/', '--no-boot-inform', '--stun', `127.0.0.1:${daemon.stunPort}`];
  const first = await runUntilStarted(args);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stderr, /registered 2 devices with stbd at http:\/\/127\.0\.0\.1:\d+ \(0 already there\)/);
  t.match(first.stderr, /stbsim: 2 STBs sim-0001…sim-0002 → ACS http:\/\/127\.0\.0\.1:9\//);
  t.match(first.stderr, /stbsim: stopped\. 2 devices · sessions 0 ok, 0 failed/);

  const second = await runUntilStarted(args);
  t.equal(second.code, 0);
  t.match(second.stderr, /registered 0 devices .* \(2 already there\)/);

  const unreachable = await run(STBSIM, ['--register', '--api', 'http://127.0.0.1:9', '--token', 'x']);
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, /^stbsim: cannot reach stbd at http:\/\/127\.0\.0\.1:9/);
});
