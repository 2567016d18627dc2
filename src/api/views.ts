import type { DeviceCredentials, DeviceRecord } from '../devices/device.js';

/**
 * A device as the API shows it: identity, usernames, presence. Passwords never appear here; they are
 * returned once, by the call that creates the device.
 * Presence fields are part of the contract; the keepalive listener fills them once it runs.
 */
export function deviceView(d: DeviceRecord) {
  return {
    id: d.id,
    online: false,
    binding: null as { address: string; port: number } | null,
    natId: null as string | null,
    lastSeen: null as string | null,
    stunUsername: d.credentials.stunUsername,
    crUsername: d.credentials.crUsername,
    cwmpUsername: d.credentials.cwmpUsername,
    createdAt: new Date(d.createdAt).toISOString(),
    updatedAt: new Date(d.updatedAt).toISOString(),
  };
}

export type DeviceView = ReturnType<typeof deviceView>;

export const credentialsView = (d: DeviceRecord): { id: string } & DeviceCredentials => ({ id: d.id, ...d.credentials });
