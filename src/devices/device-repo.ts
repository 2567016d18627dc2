import type { CredentialRotation, DeviceRecord } from './device.js';

/** A credential or id that another device already uses; `index`: which device of an insertAll. */
export class DuplicateDeviceError extends Error {
  constructor(
    readonly field: 'id' | 'stunUsername' | 'cwmpUsername',
    readonly index?: number,
  ) {
    super(`${field} is already used by another device`);
    this.name = 'DuplicateDeviceError';
  }
}

/** Opens STUN passwords the keepalive path loads sealed; `overhead`: the bytes sealing adds (the cipher keeps the length). */
export interface StunPasswordOpener {
  readonly overhead: number;
  open(id: string, sealed: Buffer): Buffer;
}

/**
 * The device registry's store, one method per unit of work. Passwords are sealed on the way in (each bound to
 * its table, column and device) and opened on the way out, when first read.
 */
export interface DeviceRepo {
  /** @throws DuplicateDeviceError */
  insert(device: DeviceRecord): Promise<void>;
  /** Inserts every device, or none. @throws DuplicateDeviceError naming the first device that clashes (with a stored one or an earlier one) */
  insertAll(devices: readonly DeviceRecord[]): Promise<void>;
  get(id: string): Promise<DeviceRecord | undefined>;
  /**
   * The device whose CWMP sessions authenticate as `username`, with the credentials being pushed to it: the
   * login path asks this once per CWMP session, one indexed lookup (the rotation joined, not read after).
   */
  byCwmpUsername(username: string): Promise<DeviceLogin | undefined>;
  /** Devices in id order, strictly after `after` when given (keyset pages); with `seenSince`, only those whose persisted last keepalive is at or after it. */
  page(after: string | undefined, limit: number, seenSince?: number): Promise<DeviceRecord[]>;
  delete(id: string): Promise<boolean>;
  count(): Promise<number>;
  /** Opens one sealed password, if there is a device: a store sealed under another master key fails here, at start. @throws SealError */
  checkSealed(): Promise<void>;
  /** No store access: the keepalive path reads the sealed passwords itself (PresenceRepo.loadAll) and opens them with this. */
  stunPasswordOpener(): StunPasswordOpener;

  rotation(deviceId: string): Promise<CredentialRotation | undefined>;
  /** Starts a rotation unless one is pending (then returns that one). */
  startRotation(r: CredentialRotation): Promise<CredentialRotation>;
  /** Makes the pending rotation (if it still carries `cwmpPassword`) the device's credentials; undefined when none such is pending. */
  commitRotation(deviceId: string, cwmpPassword: string, at: number): Promise<DeviceRecord | undefined>;
}

/** A device as a CWMP login finds it: its record and its pending rotation, read together. */
export interface DeviceLogin {
  readonly device: DeviceRecord;
  readonly rotation: CredentialRotation | undefined;
}

type Unique = DuplicateDeviceError['field'];
const UNIQUE: readonly [Unique, (d: DeviceRecord) => string][] = [
  ['id', (d) => d.id],
  ['stunUsername', (d) => d.credentials.stunUsername],
  ['cwmpUsername', (d) => d.credentials.cwmpUsername],
];

/**
 * The first device of an import that clashes with `stored` values or with an earlier device of the import,
 * checking its id first (as a row-by-row insert reports it). Undefined when none does.
 */
export function firstDuplicate(devices: readonly DeviceRecord[], stored: Readonly<Record<Unique, ReadonlySet<string>>>): DuplicateDeviceError | undefined {
  const seen: Record<Unique, Set<string>> = { id: new Set(), stunUsername: new Set(), cwmpUsername: new Set() };
  for (const [i, d] of devices.entries()) {
    for (const [field, value] of UNIQUE) {
      const v = value(d);
      if (stored[field].has(v) || seen[field].has(v)) return new DuplicateDeviceError(field, i);
    }
    for (const [field, value] of UNIQUE) seen[field].add(value(d));
  }
  return undefined;
}
