/** TR-069's Unknown Time (0001-01-01T00:00:00Z) and anything before it: no phase. */
const UNKNOWN_MS = Date.parse('0001-01-01T00:00:00Z');

/** PeriodicInformTime as a phase in Unix ms; undefined for the Unknown Time or a value that is no time. */
export function phaseOf(periodicInformTime: string | undefined): number | undefined {
  const ms = periodicInformTime === undefined ? Number.NaN : Date.parse(periodicInformTime);
  return Number.isNaN(ms) || ms <= UNKNOWN_MS ? undefined : ms;
}

/**
 * How long from `now` to the next periodic Inform (TR-069 ManagementServer.PeriodicInformTime): at the phase
 * plus or minus a whole number of intervals, whether the phase is past or future; without one, an interval.
 */
export function periodicDelay(now: number, intervalMs: number, phaseMs: number | undefined): number {
  if (phaseMs === undefined) return intervalMs;
  const ahead = (((phaseMs - now) % intervalMs) + intervalMs) % intervalMs;
  return ahead === 0 ? intervalMs : ahead;
}
