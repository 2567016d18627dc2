import type { DownloadArgs, ParameterFault, ParameterValue } from './cwmp-soap.js';

/** Notification attributes an operator sets (SetParameterAttributes): 0, 1 and 2 of TR-069. */
export const NOTIFICATIONS = ['off', 'passive', 'active'] as const;
export type Notification = (typeof NOTIFICATIONS)[number];

/** TR-069 Upload file types (A.3.2.9): the CPE's configuration file, or its log. */
export const UPLOAD_FILE_TYPES = { config: '1 Vendor Configuration File', log: '2 Vendor Log File' } as const;

/** What an operator (or provisioning) asks a device to do: one CWMP RPC each. */
export type TaskRequest =
  | { readonly kind: 'getParameterValues'; readonly names: readonly string[] }
  | { readonly kind: 'setParameterValues'; readonly values: readonly ParameterValue[] }
  | { readonly kind: 'getParameterNames'; readonly path: string; readonly nextLevel: boolean }
  | { readonly kind: 'addObject'; readonly path: string }
  | { readonly kind: 'deleteObject'; readonly path: string }
  | { readonly kind: 'reboot' }
  | { readonly kind: 'factoryReset' }
  | ({ readonly kind: 'download' } & DownloadArgs)
  /** Reads notification attributes and access lists; names ending in '.' read a subtree. */
  | { readonly kind: 'getParameterAttributes'; readonly names: readonly string[] }
  | { readonly kind: 'setParameterAttributes'; readonly attributes: readonly { readonly name: string; readonly notification: Notification }[] }
  /** The CPE calls in ("3 SCHEDULED", "M ScheduleInform") this many seconds after the session. */
  | { readonly kind: 'scheduleInform'; readonly delaySeconds: number }
  /** The CPE uploads a file (`fileType`, e.g. "1 Vendor Configuration File") to a URL stbd serves. */
  | { readonly kind: 'upload'; readonly fileType: string }
  /** Re-read a subtree (the device's whole tree without a path) into the last known values. */
  | { readonly kind: 'refresh'; readonly path?: string };

export type TaskKind = TaskRequest['kind'];

export const TASK_KINDS = ['getParameterValues', 'setParameterValues', 'getParameterNames', 'addObject', 'deleteObject', 'reboot', 'factoryReset', 'download', 'refresh', 'getParameterAttributes', 'setParameterAttributes', 'scheduleInform', 'upload'] as const satisfies readonly TaskKind[];

/**
 * queued → sent → done | fault; queued → expired | cancelled; sent → queued when the session is lost.
 * An upload the CPE accepted waits for its file and TransferComplete: sent → transferring → done | fault.
 * A transferring task is out of its device's FIFO (the next task goes out) but not finished.
 */
export type TaskStatus = 'queued' | 'sent' | 'transferring' | 'done' | 'fault' | 'expired' | 'cancelled';

export const FINISHED: ReadonlySet<TaskStatus> = new Set(['done', 'fault', 'expired', 'cancelled']);

/** Who queued a task: an operator, NAT provisioning, or the certificate proxy (update notices). */
export type TaskOrigin = 'api' | 'provisioning' | 'certs' | 'profile' | 'campaign';

export interface TaskFault {
  /** CWMP fault code (9000–9899), or 0 when the failure is not the CPE's own fault code. */
  readonly code: number;
  readonly message: string;
  /** The parameters a SetParameterValues fault named, each with its own code and text. */
  readonly details?: readonly ParameterFault[];
}

export interface Task {
  readonly id: number;
  readonly deviceId: string;
  /** As it may be shown: secret values masked (the RPC gets them from TaskQueue.sendable). */
  readonly request: TaskRequest;
  readonly origin: TaskOrigin;
  readonly status: TaskStatus;
  readonly idempotencyKey: string | null;
  /** Unix ms. */
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly sentAt: number | null;
  readonly finishedAt: number | null;
  /** How many CWMP sessions the RPC was sent in (a session lost before the answer sends it again). */
  readonly attempts: number;
  readonly result: unknown;
  readonly fault: TaskFault | null;
  /** Origin 'profile': the profiles whose work the task carries. */
  readonly profiles?: readonly string[];
}

/** The tree root a data model uses: TR-098 or TR-181. */
export type DataModelRoot = 'InternetGatewayDevice.' | 'Device.';
