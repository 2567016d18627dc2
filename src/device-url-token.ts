import { createHash } from 'node:crypto';
import type { Sealer } from './sealed-text.js';

/**
 * Tokens for URLs stbd hands one device (an Upload's target, a Download's file): the expiry and a tag of
 * the device's id sealed (AES-256-GCM) under the master key, bound to a context naming what the URL is for
 * ("stbd-upload:TASK", "stbd-file:FILE"). Nobody without the key can make one, one made for a context does
 * not open in another, every stbd over one store checks one without reading the store, and it is about 60
 * characters (TR-069 gives a URL 256).
 */

/** The device is named by a hash (8 bytes of SHA-256), never in clear. */
const deviceTag = (deviceId: string) => createHash('sha256').update(deviceId, 'utf8').digest().subarray(0, 8);

/** What an authentic token says. */
export interface OpenedToken {
  /** Unix ms. */
  readonly expiresAt: number;
  isFor(deviceId: string): boolean;
}

export function sealDeviceToken(sealer: Sealer, context: string, deviceId: string, expiresAt: number): string {
  const plain = Buffer.alloc(16);
  plain.writeBigUInt64BE(BigInt(expiresAt), 0);
  deviceTag(deviceId).copy(plain, 8);
  return sealer.seal(plain, context).toString('base64url');
}

/** Undefined for anything but a token sealed for `context` (forged, altered, another context's). */
export function openDeviceToken(sealer: Sealer, context: string, token: string): OpenedToken | undefined {
  let plain: Buffer;
  try {
    plain = sealer.open(Buffer.from(token, 'base64url'), context);
  } catch {
    return undefined;
  }
  if (plain.length !== 16) return undefined;
  const tag = plain.subarray(8);
  return { expiresAt: Number(plain.readBigUInt64BE(0)), isFor: (deviceId) => deviceTag(deviceId).equals(tag) };
}
