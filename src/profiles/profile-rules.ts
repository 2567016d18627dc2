import type { Task } from '../management/task.js';
import type { ProfileStatus } from './profile.js';

/**
 * What the end of a profile's SetParameterValues or SetParameterAttributes task means for the statuses it
 * carried: done clears it (compliant once nothing else is open), a fault is the profile's fault on that
 * device (kept until the profile changes, the device boots, or `stbctl profile apply`), expired or cancelled
 * leaves the profile pending and to be renewed at the next Inform. Pure.
 */
export function afterSetTask(rows: readonly ProfileStatus[], t: Task, now: number): ProfileStatus[] {
  return rows.map((r) => {
    const values = r.taskId === t.id;
    const taskId = values ? null : r.taskId;
    const attributesTaskId = values ? r.attributesTaskId : null;
    if (t.status === 'done') return { ...r, taskId, attributesTaskId, state: r.state === 'fault' ? 'fault' : taskId === null && attributesTaskId === null ? 'compliant' : 'pending', updatedAt: now };
    if (t.status === 'fault') return { ...r, taskId, attributesTaskId, state: 'fault', fault: { ...(t.fault ?? { code: 0, message: 'the task failed' }), task: t.id }, updatedAt: now };
    return { ...r, taskId, attributesTaskId, state: 'pending', revision: '', updatedAt: now };
  });
}

/** A GetParameterValues that fetched what a profile needed ended without the values: fault, or pending again. */
export function afterFailedFetch(rows: readonly ProfileStatus[], t: Task, now: number): ProfileStatus[] {
  return rows.map((r) => ({
    ...r,
    taskId: null,
    state: t.status === 'fault' ? 'fault' : 'pending',
    fault: t.status === 'fault' ? { ...(t.fault ?? { code: 0, message: 'the task failed' }), task: t.id } : null,
    updatedAt: now,
  }));
}

/** Whether writing `next` would change what is stored (most Informs of a compliant device change nothing). */
export const sameStatus = (a: ProfileStatus | undefined, b: ProfileStatus): boolean =>
  a !== undefined && a.revision === b.revision && a.state === b.state && a.taskId === b.taskId && a.attributesTaskId === b.attributesTaskId && JSON.stringify(a.fault) === JSON.stringify(b.fault);
