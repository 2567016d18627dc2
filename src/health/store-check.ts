import type { Clock } from '../clock.js';
import type { HealthProbeRepo } from '../store/health-probe-repo.js';
import type { Check } from './check.js';

/** The store is healthy when a write commits and reads back; failing as soon as the database refuses it. */
export function storeCheck(probe: HealthProbeRepo, clock: Clock): Check {
  return async () => {
    const at = clock.now();
    try {
      const read = await probe.roundTrip(at);
      if (read !== at) return { status: 'failing', detail: `wrote ${at} but read back ${String(read)}` };
      return { status: 'ok', detail: 'write round trip committed' };
    } catch (err) {
      const code = (err as { code?: string }).code;
      return { status: 'failing', detail: `the write failed${code ? ` (${code})` : ''}: ${err instanceof Error ? err.message : String(err)}` };
    }
  };
}
