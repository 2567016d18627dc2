import { readFileSync } from 'node:fs';
import { type ResolvedOptions, SimOptionError } from './options.js';

/** What one STB uses on an https:// ACS URL: CAs it trusts (else Node's), and a client certificate it presents. */
export interface AcsTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** `{id}` in a path is the STB's id, so that each STB can have its own certificate. */
const pathFor = (path: string, deviceId: string) => path.replaceAll('{id}', deviceId);

function read(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new SimOptionError(`${flag} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The files of --ca-file, --cert and --key for one STB, read once. @throws SimOptionError */
export function acsTlsOf(o: Pick<ResolvedOptions, 'caFile' | 'certFile' | 'keyFile'>, deviceId: string): AcsTls {
  return {
    ...(o.caFile !== undefined ? { ca: read('--ca-file', o.caFile) } : {}),
    ...(o.certFile !== undefined ? { cert: read('--cert', pathFor(o.certFile, deviceId)) } : {}),
    ...(o.keyFile !== undefined ? { key: read('--key', pathFor(o.keyFile, deviceId)) } : {}),
  };
}
