import type { BindInput, PoolRules } from './pool-rules.js';

/** A bind or an unbind waiting for its group (each engine's pool repo commits a group in one transaction). */
export type PoolOp =
  | { readonly kind: 'bind'; readonly input: BindInput; readonly rules: PoolRules }
  | { readonly kind: 'unbind'; readonly account: string; readonly deviceId: string; readonly now: number; readonly rules: PoolRules };

export const opDevice = (op: PoolOp): string => (op.kind === 'bind' ? op.input.deviceId : op.deviceId);
export const opAccount = (op: PoolOp): string => (op.kind === 'bind' ? op.input.account : op.account);

/** Most binds and unbinds in one group: more would only lengthen the transaction that holds their locks. */
export const GROUP_MAX = 64;
