import type { Clock } from '../clock.js';
import { parseDeviceCsv, ImportError, CSV_COLUMNS } from './csv-import.js';
import type { CredentialRotation, DeviceCredentials, DeviceInput, DeviceRecord } from './device.js';
import { DeviceInputValidator } from './device-input.js';
import { type DeviceLogin, type DeviceRepo, DuplicateDeviceError, type StunPasswordOpener } from './device-repo.js';

export { DuplicateDeviceError, ImportError };

/** Hears about every change to the registry, after it is committed (e.g. the keepalive path's in-memory table). */
export interface RegistryListener {
  /** `elsewhere`: another node of the cluster registered them (learn). */
  added(devices: readonly DeviceRecord[], elsewhere?: boolean): void;
  removed(id: string, elsewhere?: boolean): void;
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

  private constructor(repo: DeviceRepo, clock: Clock, newSecret: () => string, minPasswordLength: number, count: number) {
    this.validator = new DeviceInputValidator(minPasswordLength);
    this.#repo = repo;
    this.#clock = clock;
    this.#newSecret = newSecret;
    this.#count = count;
  }

  /** The registry over `repo`, its count read once. */
  static async open(repo: DeviceRepo, clock: Clock, newSecret: () => string, minPasswordLength = 1): Promise<DeviceRegistry> {
    return new DeviceRegistry(repo, clock, newSecret, minPasswordLength, await repo.count());
  }

  get count(): number {
    return this.#count;
  }

  subscribe(listener: RegistryListener): void {
    this.#listeners.push(listener);
  }

  /**
   * Another node of the cluster registered these devices (or removed `removed`): this node's listeners learn them
   * as if registered here (read from the store, so only ids travel). Unknown or already `known` added ids are
   * skipped; every removed one is passed on (a node may not hold it in memory, yet counts it).
   */
  async learn(added: readonly string[], removed: readonly string[], known: (id: string) => boolean): Promise<void> {
    const devices: DeviceRecord[] = [];
    for (const id of added) {
      if (known(id)) continue;
      const d = await this.#repo.get(id);
      if (d) devices.push(d);
    }
    if (devices.length > 0) {
      this.#count += devices.length;
      for (const l of this.#listeners) l.added(devices, true);
    }
    for (const id of removed) {
      this.#count--;
      for (const l of this.#listeners) l.removed(id, true);
    }
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
  async create(input: DeviceInput): Promise<DeviceRecord> {
    const device = this.#complete(input, this.#clock.now());
    await this.#repo.insert(device);
    this.#count++;
    for (const l of this.#listeners) l.added([device]);
    return device;
  }

  get(id: string): Promise<DeviceRecord | undefined> {
    return this.#repo.get(id);
  }

  async exists(id: string): Promise<boolean> {
    return (await this.#repo.get(id)) !== undefined;
  }

  /** The keepalive path loads STUN passwords sealed, in bulk at start, and opens each when first needed. */
  stunPasswordOpener(): StunPasswordOpener {
    return this.#repo.stunPasswordOpener();
  }

  /** Whether the master key opens what the registry holds (one device is tried). @throws SealError */
  checkSealed(): Promise<void> {
    return this.#repo.checkSealed();
  }

  /** The device whose CWMP sessions authenticate as `username`, with the credentials being pushed to it. */
  byCwmpUsername(username: string): Promise<DeviceLogin | undefined> {
    return this.#repo.byCwmpUsername(username);
  }

  /** The credentials being pushed to the device, if any. */
  rotationOf(id: string): Promise<CredentialRotation | undefined> {
    return this.#repo.rotation(id);
  }

  /**
   * Starts pushing credentials to a device (a pending rotation is kept as it is). `fresh`: new passwords
   * (a bootstrap login: whatever the device held before may be known elsewhere); otherwise the device's own
   * (first use: they were generated at registration and the CPE has not got them yet).
   */
  startRotation(device: DeviceRecord, interim: CredentialRotation['interim'], fresh: boolean): Promise<CredentialRotation> {
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
  commitRotation(id: string, cwmpPassword: string): Promise<DeviceRecord | undefined> {
    return this.#repo.commitRotation(id, cwmpPassword, this.#clock.now());
  }

  /** A page in id order; with `seenSince`, only devices whose persisted last keepalive is at or after it. */
  page(after: string | undefined, limit: number, seenSince?: number): Promise<DeviceRecord[]> {
    return this.#repo.page(after, limit, seenSince);
  }

  async remove(id: string): Promise<boolean> {
    const removed = await this.#repo.delete(id);
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
  async importCsv(text: string): Promise<DeviceRecord[]> {
    const rows = parseDeviceCsv(text, this.validator);
    const now = this.#clock.now();
    const devices = rows.map((r) => this.#complete(r.input, now));
    try {
      await this.#repo.insertAll(devices);
    } catch (err) {
      if (!(err instanceof DuplicateDeviceError)) throw err;
      const column = Object.entries(CSV_COLUMNS).find(([, f]) => f === err.field)?.[0] ?? err.field;
      const d = err.index === undefined ? undefined : devices[err.index];
      const row = err.index === undefined ? undefined : rows[err.index];
      const value = d === undefined ? undefined : err.field === 'id' ? d.id : d.credentials[err.field];
      const what = value === undefined ? `a ${column}` : `${column} ${JSON.stringify(value)}`;
      throw new ImportError(row?.row, row?.line, `${what} is already used (by a registered device or an earlier row)`);
    }
    this.#count += devices.length;
    for (const l of this.#listeners) l.added(devices);
    return devices;
  }
}
