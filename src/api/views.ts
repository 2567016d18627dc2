import type { DeviceCredentials, DeviceRecord } from '../devices/device.js';
import type { PresenceView } from '../keepalive/presence.js';

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/**
 * A device as the API shows it: identity, usernames, presence. Passwords never appear here; they are
 * returned once, by the call that creates the device.
 */
export function deviceView(d: DeviceRecord, p: PresenceView | undefined) {
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
  };
}

export type DeviceView = ReturnType<typeof deviceView>;

export const credentialsView = (d: DeviceRecord): { id: string } & DeviceCredentials => ({ id: d.id, ...d.credentials });
