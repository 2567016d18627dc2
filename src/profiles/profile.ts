import type { Condition } from '../devices/selector/ast.js';
import type { Notification } from '../management/task.js';

/** The Inform events a profile may react to (TR-069 EventCode); a profile without `events` reacts to every Inform. */
export const PROFILE_EVENTS = ['0 BOOTSTRAP', '1 BOOT', '2 PERIODIC', '3 SCHEDULED', '4 VALUE CHANGE', '6 CONNECTION REQUEST', '8 DIAGNOSTICS COMPLETE'] as const;

/** The name of the built-in periodic Inform profile (no file may take it). */
export const PERIODIC_INFORM_PROFILE = 'periodic-inform';

/** One desired parameter value: its template (see templates.ts) and the xsi:type it is sent with. */
export interface DesiredValue {
  readonly name: string;
  readonly template: string;
  readonly type: string;
  /** Built in only: the value, of the device's own, in place of the template (which is then what is shown). */
  readonly perDevice?: (deviceId: string) => string;
}

export interface DesiredNotification {
  readonly name: string;
  readonly notification: Notification;
}

/** A profile as stbd evaluates it: parsed and checked (profile-file.ts), or built in. */
export interface Profile {
  readonly name: string;
  /** The selector as written; '' for every device. */
  readonly selector: string;
  /** undefined: every device. */
  readonly condition: Condition | undefined;
  readonly priority: number;
  /** undefined: every Inform. */
  readonly events: readonly string[] | undefined;
  readonly values: readonly DesiredValue[];
  readonly notifications: readonly DesiredNotification[];
  /** A hash of what the profile says: a device last evaluated at another revision is evaluated again. */
  readonly revision: string;
  readonly builtin: boolean;
}

/** Per device and profile: compliant (every value it wins is set), pending (work queued or due), fault (the CPE refused). */
export type ProfileState = 'compliant' | 'pending' | 'fault';

export interface ProfileFaultInfo {
  readonly code: number;
  readonly message: string;
  readonly details?: readonly { readonly parameter: string; readonly code: number; readonly message: string }[];
  readonly task: number;
}

export interface ProfileStatus {
  readonly deviceId: string;
  readonly profile: string;
  readonly revision: string;
  readonly state: ProfileState;
  /** The GetParameterValues or SetParameterValues task carrying the profile's work, while open. */
  readonly taskId: number | null;
  /** The SetParameterAttributes task, while open. */
  readonly attributesTaskId: number | null;
  readonly fault: ProfileFaultInfo | null;
  readonly updatedAt: number;
}
