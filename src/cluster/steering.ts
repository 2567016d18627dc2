import { createHash } from 'node:crypto';
import { parseStunAddress, type StunAddress } from './stun-address.js';

/** A node STBs may be steered to: its id and its public STUN address. */
export interface SteeringNode {
  readonly id: string;
  readonly stunAddress: string;
}

export type SteeringMode = 'session' | 'hash';

/** The stable home of `deviceId` among `nodes` (rendezvous hashing: a node leaving moves only its own devices). */
export function homeOf(deviceId: string, nodes: readonly SteeringNode[]): SteeringNode | undefined {
  let best: SteeringNode | undefined;
  let bestScore = '';
  for (const n of nodes) {
    const score = createHash('sha1').update(`${n.id}\u0000${deviceId}`).digest('hex');
    if (score > bestScore) [best, bestScore] = [n, score];
  }
  return best;
}

/**
 * Which node's STUN address provisioning gives an STB ([cluster] steering). Pure: the live nodes come in from
 * the heartbeat. "session": the STB stays where it was provisioned while that node is alive (no flapping behind a
 * load balancer), else it moves to the node running its session; "hash": its stable home among the live nodes.
 * Undefined: no steering (one node, or no node names a public STUN address): the advert stays as configured.
 */
export class Steering {
  #live: SteeringNode[] = [];

  constructor(
    private readonly self: string,
    private readonly mode: SteeringMode,
  ) {}

  /** The live nodes of the cluster that name a public STUN address (the heartbeat's view). */
  update(nodes: readonly SteeringNode[]): void {
    this.#live = nodes.filter((n) => parseStunAddress(n.stunAddress) !== undefined);
  }

  /** `fits`: would this address leave the STB as it is (it was provisioned with it)? */
  choose(deviceId: string, fits: (a: StunAddress) => boolean): StunAddress | undefined {
    if (this.#live.length === 0) return undefined;
    const at = (n: SteeringNode | undefined) => (n ? parseStunAddress(n.stunAddress) : undefined);
    if (this.mode === 'hash') return at(homeOf(deviceId, this.#live));
    for (const n of this.#live) {
      const a = at(n)!;
      if (fits(a)) return a;
    }
    return at(this.#live.find((n) => n.id === this.self)) ?? at(homeOf(deviceId, this.#live));
  }
}
