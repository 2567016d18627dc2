import type { CallOutcomeRecorder } from '../call-outcome.js';
import type { Clock } from '../clock.js';
import { type Check, formatAge } from './check.js';

/**
 * An external system (the CAS, the CA) as its last call found it: degraded when that call failed. No
 * recorder means the builtin one, which runs inside stbd and is always ok.
 */
export function callCheck(what: string, recorder: CallOutcomeRecorder | undefined, clock: Clock): Check {
  return () => {
    if (recorder === undefined) return { status: 'ok', detail: `builtin ${what}` };
    const last = recorder.last;
    if (last === undefined) return { status: 'ok', detail: `no call to the ${what} yet` };
    const age = formatAge(clock.now() - last.at);
    if (last.ok) return { status: 'ok', detail: `last call succeeded ${age} ago` };
    return { status: 'degraded', detail: `last call failed ${age} ago: ${last.error ?? 'unknown error'}` };
  };
}
