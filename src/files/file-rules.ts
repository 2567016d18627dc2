import { FILE_TYPES, type FileType } from './file-record.js';

/** What an operator says about a file being added. */
export interface FileDescription {
  readonly type: FileType;
  readonly version: string;
  readonly productClass?: string;
  readonly oui?: string;
}

const TEXT = /^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$/;

/** Checks what is said about a file: the problem in words, or the description (OUI in upper case). */
export function checkDescription(d: { type?: unknown; version?: unknown; productClass?: unknown; oui?: unknown }): FileDescription | string {
  if (typeof d.type !== 'string' || !(FILE_TYPES as readonly string[]).includes(d.type)) return `type: must be one of ${FILE_TYPES.join(', ')}, got ${JSON.stringify(d.type)}`;
  if (typeof d.version !== 'string' || !TEXT.test(d.version)) return `version: must be 1 to 64 printable ASCII characters, not starting or ending with a space, got ${JSON.stringify(d.version)}`;
  if (d.productClass !== undefined && (typeof d.productClass !== 'string' || !TEXT.test(d.productClass))) return `productClass: must be 1 to 64 printable ASCII characters, got ${JSON.stringify(d.productClass)}`;
  if (d.oui !== undefined && (typeof d.oui !== 'string' || !/^[0-9A-Fa-f]{6}$/.test(d.oui))) return `oui: must be 6 hexadecimal digits (the ManufacturerOUI), got ${JSON.stringify(d.oui)}`;
  return {
    type: d.type as FileType,
    version: d.version,
    ...(d.productClass === undefined ? {} : { productClass: d.productClass as string }),
    ...(d.oui === undefined ? {} : { oui: (d.oui as string).toUpperCase() }),
  };
}

/**
 * A file's id, made from what it is so an operator can read it in a campaign: `firmware-2.1.0`,
 * `firmware-2.1.0-stb-00d09e`. Lower case; every run of characters outside [a-z0-9._] becomes one '-'.
 * Two files that would get one id are one file added twice: the second is refused.
 */
export function fileIdOf(d: FileDescription): string {
  const parts = [d.type, d.version, d.productClass, d.oui].filter((p): p is string => p !== undefined);
  return parts
    .map((p) => p.toLowerCase().replace(/[^a-z0-9._]+/g, '-').replace(/^-+|-+$/g, '') || '-')
    .join('-');
}

/** An id as file-rules make them (for routes and URLs): at most 256 characters of [a-z0-9._-]. */
export const FILE_ID = /^[a-z0-9._-]{1,256}$/;
