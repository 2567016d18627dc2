import { createHmac } from 'node:crypto';

/** The six credentials of one simulated device, as the daemon stores them. */
export interface SimCredentials {
  readonly stunUsername: string;
  readonly stunPassword: string;
  readonly crUsername: string;
  readonly crPassword: string;
  readonly cwmpUsername: string;
  readonly cwmpPassword: string;
}

/** Which devices a simulator runs: ids are prefix + the zero-padded index. */
export interface DeviceRange {
  readonly prefix: string;
  readonly start: number;
  readonly count: number;
  /** Derives every password (HMAC key), so the daemon can be told them without a side channel. */
  readonly secret: string;
}

export const ID_WIDTH = 4;

export const deviceIdOf = (prefix: string, index: number): string => `${prefix}${String(index).padStart(ID_WIDTH, '0')}`;

export function deviceIds(range: Omit<DeviceRange, 'secret'>): string[] {
  return Array.from({ length: range.count }, (_, i) => deviceIdOf(range.prefix, range.start + i));
}

/** Deterministic: base64url(HMAC-SHA256(secret, id:field)), 24 characters. */
const derive = (secret: string, id: string, field: string): string =>
  createHmac('sha256', secret).update(`${id}:${field}`).digest('base64url').slice(0, 24);

export function credentialsOf(secret: string, id: string): SimCredentials {
  return {
    stunUsername: id,
    stunPassword: derive(secret, id, 'stunPassword'),
    crUsername: id,
    crPassword: derive(secret, id, 'crPassword'),
    cwmpUsername: id,
    cwmpPassword: derive(secret, id, 'cwmpPassword'),
  };
}

export const DEVICE_CSV_HEADER = 'id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password';

/** The CSV `stbctl devices import FILE` takes, one row per simulated device. */
export function simDeviceCsv(range: DeviceRange): string {
  const rows = deviceIds(range).map((id) => {
    const c = credentialsOf(range.secret, id);
    // Ids come from the operator's --prefix: quote a cell only when CSV needs it.
    const cells = [id, c.stunUsername, c.stunPassword, c.crUsername, c.crPassword, c.cwmpUsername, c.cwmpPassword];
    return cells.map((v) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v)).join(',');
  });
  return `${DEVICE_CSV_HEADER}\n${rows.map((r) => `${r}\n`).join('')}`;
}
