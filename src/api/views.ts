import type { FileRecord } from '../files/file-record.js';
import type { CertificateRecord } from '../certs/certificate.js';
import type { DeviceCredentials, DeviceRecord } from '../devices/device.js';
import type { PresenceView } from '../keepalive/presence.js';
import type { CpeEvent, CwmpDeviceState, StoredParameter } from '../management/cwmp-device-repo.js';
import type { Task } from '../management/task.js';
import type { UploadRecord } from '../management/upload-repo.js';
import { redact } from '../secret-names.js';

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/**
 * A device as the API shows it: identity, usernames, presence, tags. Passwords never appear here; they are
 * returned once, by the call that creates the device.
 */
export function deviceView(d: DeviceRecord, p: PresenceView | undefined, tags: readonly string[]) {
  return {
    id: d.id,
    online: p?.online ?? false,
    binding: p?.binding ? { address: p.binding.address, port: p.binding.port } : null,
    natId: p?.natId ?? null,
    lastSeen: iso(p?.lastSeen),
    bindingChangedAt: iso(p?.bindingChangedAt),
    stunUsername: d.credentials.stunUsername,
    crUsername: d.credentials.crUsername,
    cwmpUsername: d.credentials.cwmpUsername,
    createdAt: new Date(d.createdAt).toISOString(),
    updatedAt: new Date(d.updatedAt).toISOString(),
    tags,
  };
}

export type DeviceView = ReturnType<typeof deviceView>;

/** Field by field: a stored record's passwords are getters (opened when read), which a spread would skip. */
export const credentialsView = ({ id, credentials: c }: DeviceRecord): { id: string } & DeviceCredentials => ({
  id,
  stunUsername: c.stunUsername,
  stunPassword: c.stunPassword,
  crUsername: c.crUsername,
  crPassword: c.crPassword,
  cwmpUsername: c.cwmpUsername,
  cwmpPassword: c.cwmpPassword,
});

/**
 * A task as the API shows it: times ISO, why it is still pending. Tasks are stored with their secrets
 * masked; redacting again here keeps the API safe whatever a row holds.
 */
export function taskView(t: Task, pending: string | undefined) {
  const r = t.request;
  const request = redact(r);
  return {
    id: t.id,
    device: t.deviceId,
    kind: r.kind,
    request,
    origin: t.origin,
    ...(t.profiles ? { profiles: t.profiles } : {}),
    status: t.status,
    idempotencyKey: t.idempotencyKey,
    createdAt: iso(t.createdAt),
    expiresAt: iso(t.expiresAt),
    sentAt: iso(t.sentAt),
    finishedAt: iso(t.finishedAt),
    attempts: t.attempts,
    ...(t.result === null ? {} : { result: redact(t.result) }),
    ...(t.fault === null ? {} : { fault: t.fault }),
    ...(pending === undefined ? {} : { pending }),
  };
}

/** What the management channel knows of a device: its last Inform and last known parameter values. */
export function managementView(s: CwmpDeviceState | undefined, parameters: readonly StoredParameter[], events: readonly CpeEvent[] = [], credentialsPending = false) {
  const p = s?.provisioning;
  return {
    lastInformAt: iso(s?.lastInformAt),
    lastEvents: s?.lastEvents ?? [],
    deviceInfo: s ? { manufacturer: s.manufacturer, oui: s.oui, productClass: s.productClass, serialNumber: s.serialNumber } : null,
    dataModel: s?.dataModel ?? null,
    cwmpVersion: s?.cwmpVersion ?? null,
    sourceAddress: s?.sourceAddress ?? null,
    connectionRequestUrl: s?.connectionRequestUrl ?? null,
    behindNat: s?.behindNat ?? null,
    natId: s?.natId ?? null,
    keepaliveProvisioned: s ? s.stunProvisioned !== null : null,
    /** stbd's own settings on the CPE: stopped after repeated faults until `stbctl provision`. */
    provisioning: p
      ? {
          state: p.stopped ? 'stopped' : p.failures > 0 ? 'retrying' : 'ok',
          failures: p.failures,
          lastFault: p.lastFault ? { ...p.lastFault, at: iso(p.lastFault.at) } : null,
          credentialsPending,
        }
      : null,
    partialPathUnsupported: s?.partialPathUnsupported ?? null,
    cpeEvents: events.map((e) => ({ at: iso(e.at), method: e.method, detail: e.detail })),
    parameters: parameters.map((p) => ({ name: p.name, value: p.value, type: p.type, updatedAt: iso(p.updatedAt) })),
  };
}

/** A certificate as the API shows it: never its key (that goes to its STB only, wrapped). */
export function certificateView(c: CertificateRecord) {
  return {
    id: c.id,
    device: c.deviceId,
    version: c.version,
    status: c.status,
    serial: c.serial,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    renewAt: iso(c.renewAt),
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    noticeTask: c.noticeTask,
  };
}

/** A file a CPE uploaded, as listed (its bytes come from GET /v1/uploads/ID/content). */
export function uploadView(u: UploadRecord) {
  return { id: u.id, device: u.deviceId, task: u.taskId, fileType: u.fileType, contentType: u.contentType, size: u.size, sha256: u.sha256, receivedAt: iso(u.receivedAt) };
}

export function fileView(f: FileRecord) {
  return { id: f.id, type: f.type, version: f.version, productClass: f.productClass ?? null, oui: f.oui ?? null, size: f.size, sha256: f.sha256, addedAt: iso(f.addedAt) };
}
