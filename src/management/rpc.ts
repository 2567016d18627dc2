import type { CpeBody, CwmpSoap, CwmpVersion, ParameterValue } from './cwmp-soap.js';
import { type DataModelRoot, NOTIFICATIONS, type Task, type TaskFault, type TaskRequest } from './task.js';

/** The key a task's RPC carries (ParameterKey / CommandKey), to find the task again in a TransferComplete. */
export const commandKey = (taskId: number): string => `stbd-${taskId}`;
export const taskOfCommandKey = (key: string): number | undefined => {
  const m = /^stbd-(\d+)$/.exec(key);
  return m ? Number(m[1]) : undefined;
};

/** The path a refresh reads: the one asked for, else the device's whole tree. */
export const refreshPath = (request: Extract<TaskRequest, { kind: 'refresh' }>, root: DataModelRoot | undefined): string => request.path ?? root ?? '';

/**
 * The SOAP envelope of a task's RPC (`request`: the task's, with its secrets). The cwmp:ID is the task id.
 * `uploadUrl`: where an upload task's CPE puts its file (made for the task when it is sent).
 */
export function rpcEnvelope(soap: CwmpSoap, version: CwmpVersion, task: Task, request: TaskRequest, root: DataModelRoot | undefined, uploadUrl = ''): string {
  const id = String(task.id);
  const key = commandKey(task.id);
  const r = request;
  switch (r.kind) {
    case 'getParameterValues':
      return soap.getParameterValues(version, id, r.names);
    case 'refresh':
      return soap.getParameterValues(version, id, [refreshPath(r, root)]);
    case 'setParameterValues':
      return soap.setParameterValues(version, id, r.values, key);
    case 'getParameterNames':
      return soap.getParameterNames(version, id, r.path, r.nextLevel);
    case 'addObject':
      return soap.addObject(version, id, r.path, key);
    case 'deleteObject':
      return soap.deleteObject(version, id, r.path, key);
    case 'reboot':
      return soap.reboot(version, id, key);
    case 'factoryReset':
      return soap.factoryReset(version, id);
    case 'download':
      return soap.download(version, id, r, key);
    case 'getParameterAttributes':
      return soap.getParameterAttributes(version, id, r.names);
    case 'setParameterAttributes':
      return soap.setParameterAttributes(version, id, r.attributes.map((a) => ({ name: a.name, notification: NOTIFICATIONS.indexOf(a.notification) })));
    case 'scheduleInform':
      return soap.scheduleInform(version, id, r.delaySeconds, key);
    case 'upload':
      return soap.upload(version, id, r.fileType, uploadUrl, key);
  }
}

const RESPONSE_OF: Record<TaskRequest['kind'], string> = {
  getParameterValues: 'GetParameterValuesResponse',
  refresh: 'GetParameterValuesResponse',
  setParameterValues: 'SetParameterValuesResponse',
  getParameterNames: 'GetParameterNamesResponse',
  addObject: 'AddObjectResponse',
  deleteObject: 'DeleteObjectResponse',
  reboot: 'RebootResponse',
  factoryReset: 'FactoryResetResponse',
  download: 'DownloadResponse',
  getParameterAttributes: 'GetParameterAttributesResponse',
  setParameterAttributes: 'SetParameterAttributesResponse',
  scheduleInform: 'ScheduleInformResponse',
  upload: 'UploadResponse',
};

/** What a CPE's answer means for a task: a result (with any parameter values read), or a fault. */
export type Outcome = { readonly ok: true; readonly result: unknown; readonly values: readonly ParameterValue[] } | { readonly ok: false; readonly fault: TaskFault };

type Node = Record<string, unknown>;
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'object' && v !== null && '#text' in v ? String((v as Node)['#text']) : '');
const int = (v: unknown): number => Number(text(v)) || 0;

/** Interprets the CPE's answer (a …Response or a Fault) to a task's RPC. */
export function outcomeOf(soap: CwmpSoap, task: Task, body: CpeBody): Outcome {
  if (body.kind === 'Fault') return { ok: false, fault: { code: body.code, message: body.message, ...(body.details.length > 0 ? { details: body.details } : {}) } };
  const expected = RESPONSE_OF[task.request.kind];
  if (body.kind !== 'Response' || body.method !== expected) {
    const got = body.kind === 'Response' ? body.method : body.kind;
    return { ok: false, fault: { code: 0, message: `the CPE answered ${got} to ${expected.replace(/Response$/, '')}` } };
  }
  const b = body.body;
  switch (task.request.kind) {
    case 'getParameterValues':
    case 'refresh': {
      const values = soap.parameterValues(b);
      return { ok: true, result: { parameters: values }, values };
    }
    case 'setParameterValues': {
      const values = task.request.values;
      return { ok: true, result: { status: int(b['Status']) }, values };
    }
    case 'getParameterNames':
      return { ok: true, result: { parameters: soap.parameterNames(b) }, values: [] };
    case 'addObject':
      return { ok: true, result: { instanceNumber: int(b['InstanceNumber']), status: int(b['Status']) }, values: [] };
    case 'deleteObject':
      return { ok: true, result: { status: int(b['Status']) }, values: [] };
    case 'download':
    case 'upload':
      return { ok: true, result: { status: int(b['Status']), startTime: text(b['StartTime']).trim() || null, completeTime: text(b['CompleteTime']).trim() || null }, values: [] };
    case 'getParameterAttributes':
      return { ok: true, result: { parameters: soap.parameterAttributes(b) }, values: [] };
    case 'setParameterAttributes':
      return { ok: true, result: {}, values: [] };
    case 'scheduleInform':
      return { ok: true, result: { delaySeconds: task.request.delaySeconds }, values: [] };
    case 'reboot':
    case 'factoryReset':
      return { ok: true, result: {}, values: [] };
  }
}
