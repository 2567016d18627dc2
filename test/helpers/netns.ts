import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { childEnv, ROOT, run } from './daemon.js';

/** Why the network-namespace tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs as root)';
  for (const tool of ['ip', 'nft']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) return `needs \`${tool}\` (Debian packages iproute2 and nftables; .ci/run installs them)`;
  }
  return undefined;
}

/**
 * Three network namespaces: a server on 198.51.100.1, a NAT gateway masquerading the home network
 * behind 198.51.100.2 (nftables, conntrack: only replies to what left from inside get in), and a home
 * with 192.168.77.2 routed through the gateway.
 */
export class NatTopology {
  static readonly SERVER = '198.51.100.1';
  static readonly PUBLIC = '198.51.100.2';
  static readonly HOME = '192.168.77.2';

  readonly server: string;
  readonly nat: string;
  readonly home: string;
  readonly #serverLink: string;

  constructor(tag = String(process.pid % 100_000)) {
    this.server = `stbd-srv-${tag}`;
    this.nat = `stbd-nat-${tag}`;
    this.home = `stbd-home-${tag}`;
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    this.destroy();
    for (const ns of [this.server, this.nat, this.home]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    // Interface names are at most 15 characters.
    const [wan, lan] = [`nw${tag}`, `nl${tag}`];
    this.#serverLink = `sv${tag}`;
    ip('link', 'add', `sv${tag}`, 'netns', this.server, 'type', 'veth', 'peer', 'name', wan, 'netns', this.nat);
    ip('link', 'add', `hv${tag}`, 'netns', this.home, 'type', 'veth', 'peer', 'name', lan, 'netns', this.nat);
    ip('-n', this.server, 'addr', 'add', `${NatTopology.SERVER}/24`, 'dev', `sv${tag}`);
    ip('-n', this.nat, 'addr', 'add', `${NatTopology.PUBLIC}/24`, 'dev', wan);
    ip('-n', this.nat, 'addr', 'add', '192.168.77.1/24', 'dev', lan);
    ip('-n', this.home, 'addr', 'add', `${NatTopology.HOME}/24`, 'dev', `hv${tag}`);
    ip('-n', this.server, 'link', 'set', `sv${tag}`, 'up');
    ip('-n', this.nat, 'link', 'set', wan, 'up');
    ip('-n', this.nat, 'link', 'set', lan, 'up');
    ip('-n', this.home, 'link', 'set', `hv${tag}`, 'up');
    ip('-n', this.home, 'route', 'add', 'default', 'via', '192.168.77.1');
    execFileSync('ip', ['netns', 'exec', this.nat, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const ruleset = `table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${wan}" masquerade
  }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "${lan}" accept
    ct state established,related accept
  }
}
`;
    this.nft(this.nat, ruleset);
  }

  /** The command prefix that runs a program inside namespace `ns`. */
  wrap(ns: string): string[] {
    return ['ip', 'netns', 'exec', ns];
  }

  /** One more address on the server side (e.g. one per node of a cluster), reached from the home through the gateway. */
  addServerAddress(address: string): void {
    execFileSync('ip', ['-n', this.server, 'addr', 'add', `${address}/24`, 'dev', this.#serverLink], { stdio: 'pipe' });
  }

  /** Loads an nftables script (`nft -f -`) in namespace `ns`. */
  nft(ns: string, script: string): void {
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** The packet counts of the named counters of nftables table `ip <table>` in namespace `ns`. */
  counters(ns: string, table: string): Record<string, number> {
    const out = execFileSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'counters', 'table', 'ip', table], { encoding: 'utf8' });
    const entries = (JSON.parse(out) as { nftables: { counter?: { name: string; packets: number } }[] }).nftables;
    return Object.fromEntries(entries.flatMap((e) => (e.counter ? [[e.counter.name, e.counter.packets]] : [])));
  }

  destroy(): void {
    for (const ns of [this.server, this.nat, this.home]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

/**
 * fetch() from inside namespace `ns` (whose loopback the test process cannot reach): one long-lived Node process
 * there runs each request and hands the response back over its stdin/stdout, one JSON line each way.
 */
export class NsFetch {
  readonly #proc: ChildProcess;
  readonly #waiting = new Map<number, (r: { status?: number; body?: string; error?: string }) => void>();
  #next = 0;

  constructor(ns: string) {
    const script = `import { createInterface } from 'node:readline';
      const reply = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
      createInterface({ input: process.stdin }).on('line', async (line) => {
        const { id, url, init } = JSON.parse(line);
        try {
          const res = await fetch(url, init);
          reply({ id, status: res.status, body: await res.text() });
        } catch (e) {
          reply({ id, error: String(e?.cause ?? e) });
        }
      });`;
    this.#proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv() });
    createInterface({ input: this.#proc.stdout! }).on('line', (line) => {
      const { id, ...r } = JSON.parse(line) as { id: number; status?: number; body?: string; error?: string };
      this.#waiting.get(id)?.(r);
      this.#waiting.delete(id);
    });
  }

  /** The same contract as the global fetch, for what the test helpers use: method, headers, a string body. */
  readonly fetch = (url: string | URL, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const id = this.#next++;
      this.#waiting.set(id, (r) => (r.error !== undefined ? reject(new Error(`fetch ${url} in the namespace: ${r.error}`)) : resolve(new Response(r.body === '' ? null : r.body, { status: r.status! }))));
      this.#proc.stdin!.write(`${JSON.stringify({ id, url: String(url), init })}\n`);
    });

  close(): void {
    this.#proc.kill('SIGKILL');
  }
}

/**
 * Sends `count` signed UDP connection requests for the device with ConnectionRequestUsername/Password `cr` to
 * `to` (its NAT binding), from a socket of namespace `ns` bound to `from`: the datagrams stbd would send.
 */
export async function sendConnectionRequests(ns: string, from: { address: string; port: number }, to: { address: string; port: number }, cr: { username: string; password: string }, count = 3): Promise<void> {
  const script = `import { createSocket } from 'node:dgram';
    import { encodeConnectionRequest, ConnectionRequestSequencer } from '${join(ROOT, 'dist/management/udp-connection-request.js')}';
    const seq = new ConnectionRequestSequencer(() => Date.now());
    const s = createSocket('udp4');
    let n = 0;
    const send = () => {
      const bytes = encodeConnectionRequest(seq.next('x', ${JSON.stringify(cr.username)}), ${JSON.stringify(cr.password)}, '${to.address}', ${to.port});
      s.send(bytes, ${to.port}, '${to.address}', () => (++n < ${count} ? setTimeout(send, 100) : s.close()));
    };
    s.bind(${from.port}, '${from.address}', send);`;
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script]);
  if (r.code !== 0) throw new Error(`sending connection requests from ${from.address}:${from.port} failed: ${r.stderr}`);
}
