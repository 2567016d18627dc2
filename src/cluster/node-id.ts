import { OperatorError } from '../errors.js';

/** A node id names a PostgreSQL notification channel (stbd_node_ID): letters, digits, '.', '_', '-', at most 48. */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;

/**
 * `[cluster] node_id`, or the host name when it is empty.
 * @throws OperatorError naming the key when the id cannot be used
 */
export function nodeIdOf(configured: string, hostName: string): string {
  const id = configured === '' ? hostName.split('.')[0]! : configured;
  if (!NODE_ID.test(id)) {
    const from = configured === '' ? `the host name ${JSON.stringify(hostName)}` : JSON.stringify(configured);
    throw new OperatorError(`[cluster] node_id: ${from} cannot be a node id (letters, digits, '.', '_' and '-', at most 48, starting with a letter or digit)${configured === '' ? '; set [cluster] node_id' : ''}`);
  }
  return id;
}

/** The notification channel a node LISTENs on for routed connection requests. */
export const nodeChannel = (nodeId: string): string => `stbd_node_${nodeId}`;

/** The channel where a node learns that another node's STUN socket took one of its bindings over. */
export const lostChannel = (nodeId: string): string => `stbd_lost_${nodeId}`;
