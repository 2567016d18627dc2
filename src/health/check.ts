/** One part of the daemon's health, as /health reports it. */
export type CheckStatus = 'ok' | 'degraded' | 'failing';

export interface CheckResult {
  readonly status: CheckStatus;
  /** One line for the operator: what was seen, and why it is not ok. */
  readonly detail: string;
}

/** A check runs when /health is asked, quickly (a store round trip at most). */
export type Check = () => CheckResult | Promise<CheckResult>;

const RANK: Record<CheckStatus, number> = { ok: 0, degraded: 1, failing: 2 };

export function worst(statuses: Iterable<CheckStatus>): CheckStatus {
  let w: CheckStatus = 'ok';
  for (const s of statuses) if (RANK[s] > RANK[w]) w = s;
  return w;
}

/** An age in words: `42 s`, `5 min`, `3 h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}
