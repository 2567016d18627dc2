import { execFileSync, spawnSync } from 'node:child_process';

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
    execFileSync('ip', ['netns', 'exec', this.nat, 'nft', '-f', '-'], { input: ruleset });
  }

  /** The command prefix that runs a program inside namespace `ns`. */
  wrap(ns: string): string[] {
    return ['ip', 'netns', 'exec', ns];
  }

  destroy(): void {
    for (const ns of [this.server, this.nat, this.home]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}
