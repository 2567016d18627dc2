import type { Clock } from '../clock.js';
import { parseDeviceCsv, ImportError, CSV_COLUMNS } from './csv-import.js';
import type { CredentialRotation, DeviceCredentials, DeviceInput, DeviceRecord } from './device.js';
import { DeviceInputValidator } from './device-input.js';
import { DeviceRepo, DuplicateDeviceError } from './device-repo.js';

export { DuplicateDeviceError, ImportError };

/** Hears about every change to the registry, after it is committed (e.g. the keepalive path's in-memory table). */
export interface RegistryListener {
  added(devices: readonly DeviceRecord[]): void;
  removed(id: string): void;
}

/**
 * The device registry: who the devices are and their credentials. Missing credentials are generated:
 * usernames default to the device id, passwords come from `newSecret` (crypto.randomBytes).
 */
export class DeviceRegistry {
  readonly validator: DeviceInputValidator;
  readonly #repo: DeviceRepo;
  readonly #clock: Clock;
  readonly #newSecret: () => string;
  /** Kept in memory: /health is polled often and count(*) over millions of rows is not free. */
  #count: number;
  readonly #listeners: RegistryListener[] = [];

  constructor(repo: DeviceRepo, clock: Clock, newSecret: () => string, minPasswordLength = 1) {
    this.validator = new DeviceInputValidator(minPasswordLength);
    this.#repo = repo;
    this.#clock = clock;
    this.#newSecret = newSecret;
    this.#count = repo.count();
  }

  get count(): number {
    return this.#count;
  }

  subscribe(listener: RegistryListener): void {
    this.#listeners.push(listener);
  }

  #complete(input: DeviceInput, now: number): DeviceRecord {
    const credentials: DeviceCredentials = {
      stunUsername: input.stunUsername ?? input.id,
      stunPassword: input.stunPassword ?? this.#newSecret(),
      crUsername: input.crUsername ?? input.id,
      crPassword: input.crPassword ?? this.#newSecret(),
      cwmpUsername: input.cwmpUsername ?? input.id,
      cwmpPassword: input.cwmpPassword ?? this.#newSecret(),
    };
    return { id: input.id, credentials, createdAt: now, updatedAt: now, credentialsPushedAt: null, crGenerated: input.crPassword === undefined };
  }

  /**
   * Registers a device (input already validated against deviceInputSchema).
   * @throws DuplicateDeviceError
   */
  create(input: DeviceInput): DeviceRecord {
    const device = this.#complete(input, this.#clock.now());
    this.#repo.insert(device);
    this.#count++;
    for (const l of this.#listeners) l.added([device]);
    return device;
  }

  get(id: string): DeviceRecord | undefined {
    return this.#repo.get(id);
  }

  /** The keepalive path loads STUN passwords sealed, in bulk at start, and opens each when first needed. */
  stunPasswordOpener(): ReturnType<DeviceRepo['stunPasswordOpener']> {
    return this.#repo.stunPasswordOpener();
  }

  /** Whether the master key opens what the registry holds (one device is tried). @throws SealError */
  checkSealed(): void {
    this.#repo.checkSealed();
  }

  /** The device whose CWMP sessions authenticate as `username`. */
  byCwmpUsername(username: string): DeviceRecord | undefined {
    return this.#repo.byCwmpUsername(username);
  }

  /** The credentials being pushed to the device, if any. */
  rotationOf(id: string): CredentialRotation | undefined {
    return this.#repo.rotation(id);
  }

  /**
   * Starts pushing credentials to a device (a pending rotation is kept as it is). `fresh`: new passwords
   * (a bootstrap login: whatever the device held before may be known elsewhere); otherwise the device's own
   * (first use: they were generated at registration and the CPE has not got them yet).
   */
  startRotation(device: DeviceRecord, interim: CredentialRotation['interim'], fresh: boolean): CredentialRotation {
    const c = device.credentials;
    return this.#repo.startRotation({
      deviceId: device.id,
      cwmpPassword: fresh ? this.#newSecret() : c.cwmpPassword,
      crPassword: fresh ? this.#newSecret() : c.crPassword,
      interim,
      createdAt: this.#clock.now(),
    });
  }

  /** The CPE has the rotation's credentials: they become the device's. Undefined when no such rotation is pending. */
  commitRotation(id: string, cwmpPassword: string): DeviceRecord | undefined {
    return this.#repo.commitRotation(id, cwmpPassword, this.#clock.now());
  }

  /** A page in id order; with `seenSince`, only devices whose persisted last keepalive is at or after it. */
  page(after: string | undefined, limit: number, seenSince?: number): DeviceRecord[] {
    return this.#repo.page(after, limit, seenSince);
  }

  remove(id: string): boolean {
    const removed = this.#repo.delete(id);
    if (removed) {
      this.#count--;
      for (const l of this.#listeners) l.removed(id);
    }
    return removed;
  }

  /**
   * Imports a device CSV in one transaction: every row, or (on the first bad row) none.
   * @throws ImportError naming the row, its line and the problem
   */
  importCsv(text: string): DeviceRecord[] {
    const rows = parseDeviceCsv(text, this.validator);
    const now = this.#clock.now();
    const devices = rows.map((r) => this.#complete(r.input, now));
    this.#repo.insertAll(devices, (i, dup) => {
      const column = Object.entries(CSV_COLUMNS).find(([, f]) => f === dup.field)?.[0] ?? dup.field;
      const value = dup.field === 'id' ? devices[i]?.id : devices[i]?.credentials[dup.field];
      throw new ImportError(rows[i]?.row, rows[i]?.line, `${column} ${JSON.stringify(value)} is already used (by a registered device or an earlier row)`);
    });
    this.#count += devices.length;
    for (const l of this.#listeners) l.added(devices);
    return devices;
  }
}
