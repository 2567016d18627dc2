import type { taskView } from '../../api/views.js';
import { formatTable } from './output.js';

/** A task as the API shows it (GET /v1/tasks/N). */
export type TaskView = ReturnType<typeof taskView>;

interface Parameters {
  readonly parameters?: readonly { readonly name: string; readonly value?: string; readonly writable?: boolean; readonly notification?: string; readonly accessList?: readonly string[] }[];
}
interface Status {
  readonly status?: number;
  readonly instanceNumber?: number;
  readonly startTime?: string | null;
  readonly completeTime?: string | null;
  readonly transfer?: { readonly faultCode: number; readonly faultString: string };
  readonly upload?: { readonly id: number; readonly size: number; readonly sha256: string };
  readonly delaySeconds?: number;
}

/** Who asked for a task: "api" is a person or script through the admin API, so an operator. */
export const originOf = (t: Pick<TaskView, 'origin'> & { profiles?: readonly string[] }): string => (t.origin === 'api' ? 'operator' : t.origin === 'profile' && t.profiles ? `profile:${t.profiles.join(',')}` : t.origin);

/** Queued, sent, or transferring (an upload): the device has not finished yet. */
export const isOpen = (t: Pick<TaskView, 'status'>): boolean => t.status === 'queued' || t.status === 'sent' || t.status === 'transferring';

/** What `--json` prints for one task: `{id, status, result?, fault?, pending?}`. */
export function briefOf(t: TaskView) {
  return {
    id: t.id,
    status: t.status,
    ...(t.result === undefined ? {} : { result: t.result }),
    ...(t.fault === undefined ? {} : { fault: t.fault }),
    ...(t.pending === undefined ? {} : { pending: t.pending }),
  };
}

/** A CWMP fault as one phrase; code 0 is a failure that is not the CPE's own fault code. */
export const faultText = (f: { code: number; message: string; details?: readonly { parameter: string; code: number; message: string }[] }): string =>
  (f.code === 0 ? f.message : `fault ${f.code}: ${f.message}`) + (f.details ?? []).map((d) => `; ${d.parameter}: ${d.code} ${d.message}`).join('');

const statusNote = (status: number | undefined) => (status === 1 ? '; takes effect after a reboot (status 1)' : ` (status ${status ?? 0})`);

/** Why a task is not done, in one phrase (fault, expiry, cancellation, or why it still waits). */
export function problemOf(t: TaskView): string {
  if (t.fault) return faultText(t.fault);
  if (t.status === 'expired') return `expired at ${t.expiresAt} before the device called in`;
  if (t.status === 'cancelled') return 'cancelled';
  return t.pending ?? t.status;
}

/** A done task's result as a person reads it: tables for parameter lists, a line otherwise. */
export function renderResult(t: TaskView): string {
  const r = (t.result ?? {}) as Parameters & Status;
  const req = t.request;
  switch (req.kind) {
    case 'getParameterValues':
    case 'refresh': {
      const params = r.parameters ?? [];
      if (params.length === 0) return 'no parameters\n';
      return formatTable(['NAME', 'VALUE'], params.map((p) => [p.name, p.value ?? '']));
    }
    case 'getParameterNames': {
      const params = r.parameters ?? [];
      if (params.length === 0) return 'no parameters\n';
      return formatTable(['NAME', 'WRITABLE'], params.map((p) => [p.name, p.writable ? 'yes' : 'no']));
    }
    case 'setParameterValues':
      return `applied${statusNote(r.status)}\n`;
    case 'addObject':
      return `created ${req.path}${r.instanceNumber ?? '?'}.${statusNote(r.status)}\n`;
    case 'deleteObject':
      return `deleted ${req.path}${statusNote(r.status)}\n`;
    case 'reboot':
      return `done: ${t.device} accepted the reboot\n`;
    case 'factoryReset':
      return `done: ${t.device} accepted the factory reset\n`;
    case 'download':
      return `${downloadText(t, r)}\n`;
    case 'getParameterAttributes': {
      const params = r.parameters ?? [];
      if (params.length === 0) return 'no parameters\n';
      return formatTable(['NAME', 'NOTIFICATION', 'ACCESS'], params.map((p) => [p.name, p.notification ?? '', (p.accessList ?? []).join(',') || '-']));
    }
    case 'setParameterAttributes':
      return 'applied\n';
    case 'scheduleInform':
      return `done: ${t.device} calls in about ${r.delaySeconds ?? req.delaySeconds} s from its answer (3 SCHEDULED)\n`;
    case 'upload':
      return r.upload ? `uploaded ${r.upload.size.toLocaleString('en-US')} bytes as upload ${r.upload.id} (sha256 ${r.upload.sha256}); fetch it with: stbctl upload get ${r.upload.id}\n` : 'upload done\n';
  }
}

function downloadText(t: TaskView, r: Status): string {
  if (r.status !== 1) return `download complete (started ${r.startTime ?? '?'}, completed ${r.completeTime ?? '?'})`;
  if (r.transfer) return 'download complete (reported later in a TransferComplete)';
  return `download accepted; the device reports completion later in a TransferComplete (see: stbctl task show ${t.id})`;
}

/** A task's outcome in one line, for tables: a short result, the fault, or why it is still pending. */
export function detailOf(t: TaskView): string {
  if (t.status !== 'done') return problemOf(t);
  const r = (t.result ?? {}) as Parameters & Status;
  switch (t.kind) {
    case 'getParameterValues':
      return (r.parameters ?? []).map((p) => `${p.name}=${p.value ?? ''}`).join(', ');
    case 'refresh':
    case 'getParameterNames':
      return `${r.parameters?.length ?? 0} parameters`;
    case 'getParameterAttributes':
      return (r.parameters ?? []).map((p) => `${p.name}=${p.notification ?? ''}`).join(', ');
    case 'upload':
      return r.upload ? `upload ${r.upload.id}: ${r.upload.size} bytes` : 'upload done';
    default:
      return renderResult(t).trimEnd();
  }
}
