import { type OpenedToken, openDeviceToken, sealDeviceToken } from '../device-url-token.js';
import type { Sealer } from '../sealed-text.js';

/** The path devices fetch files from on the [files] listeners: `/stbd-files/FILE/DEVICE/TOKEN`. */
export const FILES_PATH = '/stbd-files/';

const PATH = /^\/stbd-files\/([a-z0-9._-]{1,256})\/([^/?#]{1,800})\/([A-Za-z0-9_-]{16,128})\/?(?:\?.*)?$/;

/** The token is bound to its file; the device is named in the path and checked against the token. */
const context = (fileId: string) => `stbd-file:${fileId}`;

export const fileToken = (sealer: Sealer, fileId: string, deviceId: string, expiresAt: number): string => sealDeviceToken(sealer, context(fileId), deviceId, expiresAt);

/** What an authentic token says; undefined for anything else (forged, altered, another file's). */
export const openFileToken = (sealer: Sealer, fileId: string, token: string): OpenedToken | undefined => openDeviceToken(sealer, context(fileId), token);

/** `base`: scheme, host and port (a path, if any, is kept; a trailing slash is dropped). */
export const fileUrl = (base: string, fileId: string, deviceId: string, token: string): string =>
  `${base.replace(/\/+$/, '')}${FILES_PATH}${fileId}/${encodeURIComponent(deviceId)}/${token}`;

/** The file, device and token of a file URL's path (its query ignored), or undefined when it is not one. */
export function parseFilePath(url: string): { readonly fileId: string; readonly deviceId: string; readonly token: string } | undefined {
  const m = PATH.exec(url);
  if (!m) return undefined;
  let deviceId: string;
  try {
    deviceId = decodeURIComponent(m[2] as string);
  } catch {
    return undefined;
  }
  return { fileId: m[1] as string, deviceId, token: m[3] as string };
}
