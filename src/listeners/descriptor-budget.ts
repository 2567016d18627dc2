import { readFileSync } from 'node:fs';

/** Descriptors stbd needs besides its listeners' connections: the database, the STUN sockets, outgoing calls, logs. */
export const RESERVED_DESCRIPTORS = 256;

/** The soft "Max open files" of /proc/self/limits text; undefined when unlimited or not found. */
export function openFileLimit(limitsText: string): number | undefined {
  const m = /^Max open files\s+(\d+)/m.exec(limitsText);
  return m ? Number(m[1]) : undefined;
}

/** This process's open-file limit (Node raises the soft limit to the hard one at start); undefined off Linux. */
export function ownOpenFileLimit(): number | undefined {
  try {
    return openFileLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Descriptors the listeners may hold at their limits: `max_connections` each, twice that for a listener
 * that sheds (it keeps as many again to answer them 503), plus the reserve.
 */
export function descriptorsNeeded(listeners: readonly { readonly maxConnections: number; readonly sheds: boolean }[]): number {
  return listeners.reduce((n, l) => n + l.maxConnections * (l.sheds ? 2 : 1), RESERVED_DESCRIPTORS);
}
