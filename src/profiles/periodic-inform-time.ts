import { hash } from 'node:crypto';

/**
 * Where in the periodic Inform interval a device calls in: a stable hash of its id, spread evenly over
 * [0, interval). The same id always gets the same phase, so a whole fleet is spread over the interval
 * after an outage instead of calling in at once. Pure.
 */
export function informPhaseSeconds(deviceId: string, intervalSeconds: number): number {
  // One-shot: it runs at every Inform of a device the built-in profile covers.
  const h = hash('sha256', deviceId, 'buffer');
  // 53 bits of the hash as a fraction in [0, 1).
  const fraction = (h.readUInt32BE(0) * 2 ** 21 + (h.readUInt32BE(4) >>> 11)) / 2 ** 53;
  return Math.floor(fraction * intervalSeconds);
}

/**
 * ManagementServer.PeriodicInformTime for a device: a dateTime whose offset from the epoch is its phase (a
 * CPE calls in at that time plus every multiple of the interval, TR-069 A.3.2.7 / TR-098, TR-181).
 */
export function periodicInformTime(deviceId: string, intervalSeconds: number): string {
  return new Date(informPhaseSeconds(deviceId, intervalSeconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
