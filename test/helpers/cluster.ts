import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { clientsOf, type Reach, spawnDaemon, type SpawnedDaemon, writeTestConfig } from './daemon.js';

/** A node of a test cluster: a real stbd process on its own loopback address, with stbctl and the API. */
export interface TestNode {
  readonly id: string;
  /** Its loopback address (127.0.0.N): its STUN, CWMP and certificate listeners are bound there. */
  readonly host: string;
  readonly daemon: SpawnedDaemon;
  readonly config: string;
  readonly clients: ReturnType<typeof clientsOf>;
}

/**
 * Starts node `id` of a cluster on the PostgreSQL database `url`, in `root/id`, listening on `host`. Every node
 * shares the master key `root/master.key` (the first one creates it), as an operator's nodes do. `via.wrap` runs
 * it (and stbctl) in a network namespace, whose API the test then reaches through `via.fetch`.
 */
export async function startNode(root: string, url: string, id: string, host: string, cluster: Record<string, string> = {}, extra: Record<string, Record<string, string | number | boolean>> = {}, via: Reach = {}): Promise<TestNode> {
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  const config = writeTestConfig(dir, {
    ...extra,
    store: { kind: 'postgres', url },
    stun: { listen: `${host}:0`, ...extra['stun'] },
    cwmp: { listen: `${host}:0`, connection_request_retry: '1s', connection_request_timeout: '30s', ...extra['cwmp'] },
    certs: { listen: `${host}:0`, media_token_file: join(dir, 'media.token'), ...extra['certs'] },
    ca: { master_key_file: resolve(root, 'master.key'), ...extra['ca'] },
    cluster: { node_id: id, lease: '3s', ...cluster },
  });
  const daemon = await spawnDaemon(config, via.wrap ? { wrap: via.wrap } : {});
  return { id, host, daemon, config, clients: clientsOf(config, daemon, join(dir, 'api.token'), via) };
}

export interface NodeSpec {
  readonly id: string;
  readonly host: string;
  readonly cluster?: Record<string, string>;
  readonly extra?: Record<string, Record<string, string | number | boolean>>;
}

/**
 * Starts the nodes (see startNode), one after the other (several stbds starting together on two shared cores can
 * take longer than spawnDaemon waits), or `atOnce`; each is killed at the end of `t`. The shared master key is
 * made first, as an operator copies it to every node (else nodes starting together would race to create it).
 */
export async function startNodes(t: { teardown(fn: () => unknown): void }, root: string, url: string, specs: readonly NodeSpec[], via: Reach = {}, atOnce = false): Promise<TestNode[]> {
  writeFileSync(resolve(root, 'master.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const start = async (s: NodeSpec) => {
    const node = await startNode(root, url, s.id, s.host, s.cluster, s.extra, via);
    t.teardown(() => node.daemon.stop('SIGKILL'));
    return node;
  };
  if (atOnce) return Promise.all(specs.map(start));
  const nodes: TestNode[] = [];
  for (const s of specs) nodes.push(await start(s));
  return nodes;
}

/** Waits until `node` logged that it sees exactly `nodes` alive (its steering follows that view). */
export async function seesLive(node: TestNode, nodes: string): Promise<boolean> {
  const said = () => node.daemon.logs.filter((l) => l.includes('"cluster: the live nodes changed"')).at(-1)?.includes(`"nodes":"${nodes}"`) === true;
  for (let i = 0; i < 100 && !said(); i++) await new Promise((r) => setTimeout(r, 100));
  return said();
}

/**
 * Polls `done` every `stepMs` until it holds or `withinMs` passed (a bounded wait on a condition, never a bare sleep);
 * resolves whether it held.
 */
export async function pollUntil(done: () => Promise<boolean> | boolean, withinMs: number, stepMs = 100): Promise<boolean> {
  const end = Date.now() + withinMs;
  while (!(await done())) {
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return true;
}
