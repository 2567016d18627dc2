import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, run, type RunResult, spawnDaemon, STBCTL, STBSIM, writeTestConfig } from './helpers/daemon.js';

/**
 * The README's walkthrough, run as printed: every command of a block marked `<!-- walkthrough -->`, in
 * order, against a real daemon on the default ports (the commands name none), each checked for what the
 * README says it prints. A command this test does not know fails it, so the README cannot drift.
 */

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const commands = [...README.matchAll(/<!-- walkthrough -->\n```sh\n([\s\S]*?)```/g)].flatMap((m) =>
  m[1]!
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== ''),
);

/** Runs one command (its arguments after `npx NAME`) and checks what it printed. */
type Step = (args: string[]) => Promise<void>;

t.test('the README walkthrough works as printed', async (t) => {
  t.ok(commands.length >= 13, `${commands.length} walkthrough commands found`);
  const dir = t.testdir();
  // The README's own config, with the state in the test's directory: same ports, same defaults.
  const config = writeTestConfig(dir, {
    api: { listen: '127.0.0.1:7557' },
    stun: { listen: '0.0.0.0:3478' },
    cwmp: { listen: '0.0.0.0:7547' },
    certs: { listen: '0.0.0.0:7548' },
    log: { level: 'info' },
  });
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const env = { STBD_CONFIG: config };
  const sims: ChildProcess[] = [];
  t.teardown(() => {
    for (const p of sims) p.kill('SIGKILL');
  });
  const stbctl = (args: string[]) => run(STBCTL, args, env);
  const ok = (r: RunResult, what: string) => {
    t.equal(r.code, 0, `${what}: ${r.stderr}`);
    return r.stdout;
  };
  const until = async (what: string, probe: () => Promise<boolean>, ms: number) => {
    const deadline = Date.now() + ms;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const online = async () => (await stbctl(['device', 'list', '--online', '--json'])).stdout;
  const stbsim = async (args: string[]): Promise<void> => {
    // A new simulator takes over the STBs of the one before (as a person would stop it first).
    for (const p of sims.splice(0)) p.kill('SIGINT');
    const proc = spawn(STBSIM, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', ...env } });
    sims.push(proc);
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await until('stbsim started its STBs', async () => /→ ACS/.test(stderr) || proc.exitCode !== null, 15_000);
    t.equal(proc.exitCode, null, `stbsim runs: ${stderr}`);
  };

  const steps: Record<string, Step> = {
    'npx stbctl status': async (args) => {
      t.match(ok(await stbctl(args), 'status'), /^stbd\s+ok \(version [^)]+\) at http:\/\/127\.0\.0\.1:7557\n/);
    },
    'npx stbctl device add 00259E-STB-0001': async (args) => {
      const out = ok(await stbctl(args), 'device add');
      t.match(out, /^registered 00259E-STB-0001\n\ncredentials \(shown only now; store them safely\):\n/);
      t.match(out, /cwmp password\s+\S{24}\n/, 'prints the generated credentials');
    },
    'npx stbctl device list': async (args) => {
      t.match(ok(await stbctl(args), 'device list'), /^ID\s+ONLINE.*\n00259E-STB-0001\s+no\s/);
    },
    'npx stbctl device show 00259E-STB-0001 --json': async (args) => {
      t.match(JSON.parse(ok(await stbctl(args), 'device show --json')), { id: '00259E-STB-0001', online: false, binding: null, management: {} });
    },
    'npx stbsim --count 100 --register --behind-nat': async (args) => {
      await stbsim(args);
      await until('100 STBs online, provisioned behind NAT', async () => (JSON.parse(await online()) as unknown[]).length === 100, 60_000);
    },
    'npx stbctl device list --online': async (args) => {
      const lines = ok(await stbctl(args), 'device list').trimEnd().split('\n');
      t.equal(lines.length, 101, '100 devices');
      t.ok(lines.slice(1).every((l) => /^sim-\d{4}\s+yes\s+127\.0\.0\.1:\d+\s/.test(l)), 'each with its binding');
    },
    'npx stbctl reboot sim-0042 --wait 30': async (args) => {
      t.match(ok(await stbctl(args), 'reboot'), /^done: sim-0042 accepted the reboot/);
      await until(
        'it Informs "1 BOOT", "M Reboot"',
        async () => /last events\s+.*1 BOOT.*M Reboot|last events\s+.*M Reboot.*1 BOOT/.test((await stbctl(['device', 'show', 'sim-0042'])).stdout),
        20_000,
      );
    },
    'npx stbctl get sim-0042 InternetGatewayDevice.DeviceInfo. --wait 30': async (args) => {
      t.match(ok(await stbctl(args), 'get'), /InternetGatewayDevice\.DeviceInfo\.SoftwareVersion\s+\S+/);
    },
    'npx stbctl set sim-0042 InternetGatewayDevice.Time.NTPServer1=ntp.example.net --wait 30': async (args) => {
      t.match(ok(await stbctl(args), 'set'), /^applied/);
    },
    'npx stbctl reboot --all-online --wait 60': async (args) => {
      t.match(ok(await stbctl(args), 'bulk reboot'), /100 devices: 100 done, 0 fault, 0 pending, 0 failed to queue/);
    },
    'npx stbctl device show sim-0042': async (args) => {
      const out = ok(await stbctl(args), 'device show');
      t.match(out, /nat id\s+127\.0\.0\.1/);
      t.match(out, /keepalive provisioned\s+yes/);
      t.match(out, /InternetGatewayDevice\.Time\.NTPServer1\s+ntp\.example\.net/, 'the value just set');
    },
    'npx stbsim --count 10 --register --behind-nat --certs https://127.0.0.1:7548 --fetch-cert-every 30': async (args) => {
      await stbsim(args);
    },
    'npx stbctl certs list': async (args) => {
      // "within 30 s": the first fetch comes at a random point of the first period.
      const ten = async () => ((await stbctl(args)).stdout.match(/^media-sim-00(0[1-9]|10)\s+sim-00\d\d\s+1\s+valid/gm) ?? []).length === 10;
      await until('ten certificates, version 1', ten, 45_000);
      t.ok(await ten(), 'media-sim-0001 … media-sim-0010, version 1');
    },
  };
  for (const line of commands) {
    const [npx, , ...args] = line.split(/\s+/);
    const step = steps[line];
    if (npx !== 'npx' || !step) {
      t.fail(`the README has a walkthrough command this test does not know: ${line}`);
      continue;
    }
    t.comment(line);
    await step(args);
  }
  t.same(commands, Object.keys(steps), 'every step the test knows is in the README, in this order');
});
