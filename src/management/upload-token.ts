import { type OpenedToken, openDeviceToken, sealDeviceToken } from '../device-url-token.js';
import type { Sealer } from '../sealed-text.js';

/** The path CPEs upload to: `/stbd-upload/TASK/TOKEN` on the CWMP listeners (beside any ACS path). */
export const UPLOAD_PATH = '/stbd-upload/';

const PATH = /^\/stbd-upload\/([1-9][0-9]{0,15})\/([A-Za-z0-9_-]{16,128})\/?(?:\?.*)?$/;

/** The sealed box binds the token to its task; the device is named by a hash, checked against the task. */
const context = (taskId: number) => `stbd-upload:${taskId}`;

/** A token for one upload task's URL (src/device-url-token.ts says what it holds). */
export const uploadToken = (sealer: Sealer, taskId: number, deviceId: string, expiresAt: number): string => sealDeviceToken(sealer, context(taskId), deviceId, expiresAt);

/** What an authentic token says; undefined for anything else (forged, altered, another task's). */
export const openUploadToken = (sealer: Sealer, taskId: number, token: string): OpenedToken | undefined => openDeviceToken(sealer, context(taskId), token);

/** The task and token of an upload URL's path (its query ignored), or undefined when it is not one. */
export function parseUploadPath(url: string): { readonly taskId: number; readonly token: string } | undefined {
  const m = PATH.exec(url);
  return m ? { taskId: Number(m[1]), token: m[2] as string } : undefined;
}

/** `base`: scheme, host and port (a path, if any, is kept; a trailing slash is dropped). */
export const uploadUrl = (base: string, taskId: number, token: string): string => `${base.replace(/\/+$/, '')}${UPLOAD_PATH}${taskId}/${token}`;
