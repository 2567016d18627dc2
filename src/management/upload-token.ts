import { createHash } from 'node:crypto';
import type { Sealer } from '../sealed-text.js';

/** The path CPEs upload to: `/stbd-upload/TASK/TOKEN` on the CWMP listeners (beside any ACS path). */
export const UPLOAD_PATH = '/stbd-upload/';

const PATH = /^\/stbd-upload\/([1-9][0-9]{0,15})\/([A-Za-z0-9_-]{16,128})\/?(?:\?.*)?$/;

/** The sealed box binds the token to its task; the device is named by a hash, checked against the task. */
const context = (taskId: number) => `stbd-upload:${taskId}`;
const deviceTag = (deviceId: string) => createHash('sha256').update(deviceId, 'utf8').digest().subarray(0, 8);

/**
 * A token for one upload task's URL: its expiry and the device's tag sealed (AES-256-GCM) under the master
 * key, bound to the task id. Nobody without the key can make one, every stbd over one store can check one
 * without reading the store, and it is about 60 characters (TR-069 gives the URL 256).
 */
export function uploadToken(sealer: Sealer, taskId: number, deviceId: string, expiresAt: number): string {
  const plain = Buffer.alloc(16);
  plain.writeBigUInt64BE(BigInt(expiresAt), 0);
  deviceTag(deviceId).copy(plain, 8);
  return sealer.seal(plain, context(taskId)).toString('base64url');
}

/** What an authentic token says; undefined for anything else (forged, altered, another task's). */
export function openUploadToken(sealer: Sealer, taskId: number, token: string): { readonly expiresAt: number; isFor(deviceId: string): boolean } | undefined {
  let plain: Buffer;
  try {
    plain = sealer.open(Buffer.from(token, 'base64url'), context(taskId));
  } catch {
    return undefined;
  }
  if (plain.length !== 16) return undefined;
  const tag = plain.subarray(8);
  return { expiresAt: Number(plain.readBigUInt64BE(0)), isFor: (deviceId) => deviceTag(deviceId).equals(tag) };
}

/** The task and token of an upload URL's path (its query ignored), or undefined when it is not one. */
export function parseUploadPath(url: string): { readonly taskId: number; readonly token: string } | undefined {
  const m = PATH.exec(url);
  return m ? { taskId: Number(m[1]), token: m[2] as string } : undefined;
}

/** `base`: scheme, host and port (a path, if any, is kept; a trailing slash is dropped). */
export const uploadUrl = (base: string, taskId: number, token: string): string => `${base.replace(/\/+$/, '')}${UPLOAD_PATH}${taskId}/${token}`;
