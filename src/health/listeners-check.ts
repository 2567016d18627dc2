import type { Check } from './check.js';

/** A listener by name, and where it is bound (undefined when it is not). */
export interface Listener {
  readonly name: string;
  bound(): string | undefined;
}

/** Failing when any listener is not bound: the devices or the operator behind it cannot reach stbd. */
export function listenersCheck(listeners: readonly Listener[]): Check {
  return () => {
    const seen = listeners.map((l) => ({ name: l.name, at: l.bound() }));
    const down = seen.filter((l) => l.at === undefined).map((l) => l.name);
    if (down.length > 0) return { status: 'failing', detail: `not bound: ${down.join(', ')}` };
    return { status: 'ok', detail: seen.map((l) => `${l.name} ${l.at}`).join(', ') };
  };
}
