import type { DataModelRoot, Task, TaskRequest } from '../management/task.js';

/**
 * The "certificate needs update" notice (seed 002 step 6) travels as a CWMP SetParameterValues of this
 * vendor-specific parameter, its value the certificate id. The STB's SetParameterValuesResponse is its
 * acknowledgement; a fault (e.g. 9005, it does not know the parameter) is a refusal.
 */
export const UPDATE_PARAMETER = 'X_STBD_Certificate.UpdateRequired';

export function noticeRequest(root: DataModelRoot, certId: string): TaskRequest {
  return { kind: 'setParameterValues', values: [{ name: `${root}${UPDATE_PARAMETER}`, value: certId, type: 'xsd:string' }] };
}

/** The certificate a finished notice task was about, or undefined for any other task. */
export function certOfNotice(task: Task): string | undefined {
  if (task.origin !== 'certs' || task.request.kind !== 'setParameterValues') return undefined;
  return task.request.values.find((v) => v.name.endsWith(UPDATE_PARAMETER))?.value;
}
