import { randomBytes } from 'node:crypto';
import type { CredentialRotation, DeviceRecord } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Inform } from './cwmp-soap.js';
import type { CpeHttpAuth, Credentials, LoginCheck } from './http-auth.js';

/** Who a CWMP login is, as far as its Authorization header or client certificate tells (before the Inform is read). */
export type Login =
  /**
   * A device's own credentials (or client certificate); `rotated`: the ones being pushed to it (the CPE has
   * them now); `rotation`: what is being pushed, as the login read it.
   */
  | { readonly kind: 'device'; readonly device: DeviceRecord; readonly rotated: boolean; readonly rotation: CredentialRotation | undefined }
  /** A factory pair from the bootstrap credentials file: the Inform's DeviceId says which device. */
  | { readonly kind: 'bootstrap'; readonly username: string }
  /** auto_register: a username nobody has; the device is registered from its Inform. */
  | { readonly kind: 'first-use'; readonly username: string; readonly interim: CredentialRotation['interim'] };

/**
 * Why a login was refused, for counting and logging: wrong credentials (or an unknown user), a Digest
 * (nonce, nc) used before, Digest without qop, a refusal once the Inform was read (another DeviceId,
 * a factory pair stbd will not take, a registration it will not do); `stale`: right credentials on a nonce to renew (not a failure).
 */
export type RefusalKind = 'credentials' | 'replay' | 'rfc2069' | 'deviceid_mismatch' | 'bootstrap' | 'registration' | 'stale' | 'client_certificate';

export type LoginOutcome =
  | { readonly ok: true; readonly login: Login }
  | { readonly ok: false; readonly kind: Extract<RefusalKind, 'credentials' | 'replay' | 'rfc2069' | 'stale'>; readonly reason: string; readonly device?: DeviceRecord };

/** The id CWMP gives a device: OUI-ProductClass-SerialNumber (ProductClass may be empty). */
export const cwmpDeviceId = (d: Pick<Inform['deviceId'], 'oui' | 'productClass' | 'serialNumber'>): string => [d.oui, d.productClass, d.serialNumber].filter((s) => s !== '').join('-');

export interface CpeLoginsDeps {
  readonly auth: CpeHttpAuth;
  readonly registry: DeviceRegistry;
  /** Factory username → password. */
  readonly bootstrap: ReadonlyMap<string, string>;
  readonly autoRegister: boolean;
}

/** What a password check is tried against: a device's, or the decoy's. */
interface Candidate {
  readonly cwmpPassword: string;
  readonly rotation: CredentialRotation | undefined;
}

/**
 * Checks a CPE's Basic or Digest credentials from the headers alone: against a factory pair, the device's
 * own password, or the credentials being pushed to it (and, while a push is pending, what the CPE had).
 * An unknown username costs what a wrong password costs: the same checks run against a decoy, a
 * per-process random password under an id no device can have, so timing does not tell who exists.
 */
export class CpeLogins {
  readonly #decoy: Candidate = { cwmpPassword: randomBytes(24).toString('base64url'), rotation: undefined };

  constructor(private readonly d: CpeLoginsDeps) {}

  /**
   * A client certificate the TLS layer verified against `[cwmp] client_ca_file`: its subject CN is the
   * device's id. A CN that is no registered device logs in no one (the CPE's HTTP credentials then count).
   */
  async certified(commonName: string): Promise<LoginOutcome | undefined> {
    const device = await this.d.registry.get(commonName);
    return device ? { ok: true, login: { kind: 'device', device, rotated: false, rotation: await this.d.registry.rotationOf(device.id) } } : undefined;
  }

  async authenticate(credentials: Credentials, method: string, uri: string): Promise<LoginOutcome> {
    const { auth, registry, bootstrap } = this.d;
    if (auth.refusedRfc2069(credentials)) return { ok: false, kind: 'rfc2069', reason: 'Digest without qop (RFC 2069) is refused; [cwmp] digest_allow_rfc2069 = true accepts it' };
    const check = auth.check(credentials, method, uri);
    const ok = (password: string) => check.matches(password);
    const { username } = credentials;
    const factory = bootstrap.get(username);
    if (factory !== undefined && ok(factory)) return this.#admit(check, { kind: 'bootstrap', username });
    const found = await registry.byCwmpUsername(username);
    const device = found?.device;
    const match = this.#match(found ? { cwmpPassword: found.device.credentials.cwmpPassword, rotation: found.rotation } : this.#decoy, ok);
    if (device) {
      if (match) return this.#admit(check, { kind: 'device', device, rotated: match === 'rotated', rotation: found.rotation }, device);
      return { ok: false, kind: 'credentials', reason: 'wrong credentials', device };
    }
    if (factory !== undefined) return { ok: false, kind: 'credentials', reason: 'wrong password for a bootstrap username' };
    if (!this.d.autoRegister) return { ok: false, kind: 'credentials', reason: 'unknown username' };
    // First use: the CPE keeps its own password until it accepts ours. Basic shows it; Digest never does.
    const interim: CredentialRotation['interim'] = credentials.scheme === 'basic' ? { kind: 'password', password: credentials.password } : { kind: 'any' };
    return this.#admit(check, { kind: 'first-use', username, interim });
  }

  /** Which of the candidate's passwords the credentials are: its own, the one being pushed, or the interim. */
  #match(c: Candidate, ok: (password: string) => boolean): 'own' | 'rotated' | 'interim' | undefined {
    if (ok(c.cwmpPassword)) return 'own';
    // The lookup that found no device cost the one query a device's costs (its rotation comes joined).
    const r = c.rotation;
    if (r && ok(r.cwmpPassword)) return 'rotated';
    if (r && (r.interim.kind === 'any' || (r.interim.kind === 'password' && ok(r.interim.password)))) return 'interim';
    return undefined;
  }

  /** Right credentials: is their Digest nonce still usable here (not replayed, not stale)? */
  #admit(check: LoginCheck, login: Login, device?: DeviceRecord): LoginOutcome {
    const verdict = check.admit();
    if (verdict === 'ok') return { ok: true, login };
    const dev = device ? { device } : {};
    if (verdict === 'stale') return { ok: false, kind: 'stale', reason: 'stale Digest nonce', ...dev };
    return { ok: false, kind: 'replay', reason: 'Digest nonce count used before (a replayed Authorization)', ...dev };
  }
}
