import type { CredentialRotation, DeviceRecord } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Inform } from './cwmp-soap.js';
import type { CpeHttpAuth, Credentials } from './http-auth.js';

/** Who a CWMP login is, as far as its Authorization header or client certificate tells (before the Inform is read). */
export type Login =
  /** A device's own credentials (or client certificate); `rotated`: the ones being pushed to it (the CPE has them now). */
  | { readonly kind: 'device'; readonly device: DeviceRecord; readonly rotated: boolean }
  /** A factory pair from the bootstrap credentials file: the Inform's DeviceId says which device. */
  | { readonly kind: 'bootstrap'; readonly username: string }
  /** auto_register: a username nobody has; the device is registered from its Inform. */
  | { readonly kind: 'first-use'; readonly username: string; readonly interim: CredentialRotation['interim'] };

export type LoginOutcome = { readonly ok: true; readonly login: Login } | { readonly ok: false; readonly reason: string; readonly device?: DeviceRecord };

/** The id CWMP gives a device: OUI-ProductClass-SerialNumber (ProductClass may be empty). */
export const cwmpDeviceId = (d: Pick<Inform['deviceId'], 'oui' | 'productClass' | 'serialNumber'>): string => [d.oui, d.productClass, d.serialNumber].filter((s) => s !== '').join('-');

export interface CpeLoginsDeps {
  readonly auth: CpeHttpAuth;
  readonly registry: DeviceRegistry;
  /** Factory username → password. */
  readonly bootstrap: ReadonlyMap<string, string>;
  readonly autoRegister: boolean;
}

/**
 * Checks a CPE's Basic or Digest credentials from the headers alone: against a factory pair, the device's
 * own password, or the credentials being pushed to it (and, while a push is pending, what the CPE had).
 */
export class CpeLogins {
  constructor(private readonly d: CpeLoginsDeps) {}

  /**
   * A client certificate the TLS layer verified against `[cwmp] client_ca_file`: its subject CN is the
   * device's id. A CN that is no registered device logs in no one (the CPE's HTTP credentials then count).
   */
  certified(commonName: string): LoginOutcome | undefined {
    const device = this.d.registry.get(commonName);
    return device ? { ok: true, login: { kind: 'device', device, rotated: false } } : undefined;
  }

  authenticate(credentials: Credentials, method: string, uri: string): LoginOutcome {
    const { auth, registry, bootstrap } = this.d;
    const ok = (password: string) => auth.verify(credentials, password, method, uri);
    const { username } = credentials;
    const factory = bootstrap.get(username);
    if (factory !== undefined && ok(factory)) return { ok: true, login: { kind: 'bootstrap', username } };
    const device = registry.byCwmpUsername(username);
    if (device) {
      if (ok(device.credentials.cwmpPassword)) return { ok: true, login: { kind: 'device', device, rotated: false } };
      const r = registry.rotationOf(device.id);
      if (r && ok(r.cwmpPassword)) return { ok: true, login: { kind: 'device', device, rotated: true } };
      if (r && (r.interim.kind === 'any' || (r.interim.kind === 'password' && ok(r.interim.password)))) return { ok: true, login: { kind: 'device', device, rotated: false } };
      return { ok: false, reason: 'wrong credentials', device };
    }
    if (factory !== undefined) return { ok: false, reason: 'wrong password for a bootstrap username' };
    if (!this.d.autoRegister) return { ok: false, reason: 'unknown username' };
    // First use: the CPE keeps its own password until it accepts ours. Basic shows it; Digest never does.
    const interim: CredentialRotation['interim'] = credentials.scheme === 'basic' ? { kind: 'password', password: credentials.password } : { kind: 'any' };
    return { ok: true, login: { kind: 'first-use', username, interim } };
  }
}
