import type { Backlog } from '../timer/scheduler.js';
import { type Check, formatAge } from './check.js';

/** A deadline this late means its handler keeps failing (or the daemon is stuck): worth a look. */
const OVERDUE_LIMIT_MS = 60_000;

export function schedulerCheck(backlog: () => Promise<Backlog>): Check {
  return async () => {
    const b = await backlog();
    if (b.oldestOverdueMs > OVERDUE_LIMIT_MS) return { status: 'degraded', detail: `${b.pending} deadlines pending, the oldest overdue by ${formatAge(b.oldestOverdueMs)}` };
    return { status: 'ok', detail: `${b.pending} deadlines pending, none overdue by more than ${formatAge(OVERDUE_LIMIT_MS)}` };
  };
}
