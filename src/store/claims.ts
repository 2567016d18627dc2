/**
 * Once-only work in a cluster (deadlines, CAS outbox rows): a node claims a row before it does the work, in one
 * statement under the row's lock. A claim holds while its node is alive (its `nodes` lease) and at most CLAIM_MS;
 * after that, or once the claiming node's lease has run out, another node takes it over. On SQLite there is one
 * node and nothing is claimed.
 */

/** A claim lasts at most this long even on a live node (a handler that hangs): then another node may run it. */
export const CLAIM_MS = 10 * 60_000;

/**
 * SQL true when the row of `alias` (with claimed_by, claim_until) may be claimed by `node` at `now` (parameter
 * placeholders of the statement it goes in). A claim this node holds counts as claimable: its own earlier attempt,
 * or an earlier start of this node.
 */
export const claimable = (alias: string, node: string, now: string): string =>
  `(${alias}.claimed_by IS NULL OR ${alias}.claimed_by = ${node} OR ${alias}.claim_until <= ${now}
    OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = ${alias}.claimed_by AND n.lease_until > ${now}))`;

/** A dead node's claim only (never a live node's, this one's included). */
export const abandoned = (alias: string, now: string): string =>
  `(${alias}.claim_until <= ${now} OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = ${alias}.claimed_by AND n.lease_until > ${now}))`;
