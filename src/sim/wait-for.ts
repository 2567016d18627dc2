import type { EventEmitter } from 'node:events';
import type { SimEventMap } from './sim-events.js';

type Payload<K extends keyof SimEventMap> = SimEventMap[K][0];

export class WaitTimeout extends Error {
  override name = 'WaitTimeout';
}

/**
 * Resolves with the first `event` whose payload satisfies `predicate`, or rejects with WaitTimeout after
 * `timeoutMs`. Subscribe before causing the event (call waitFor, then act, then await).
 */
export function waitFor<K extends keyof SimEventMap>(source: EventEmitter<SimEventMap>, event: K, predicate: (payload: Payload<K>) => boolean = () => true, timeoutMs = 5000): Promise<Payload<K>> {
  return new Promise((resolve, reject) => {
    const listener = (payload: Payload<K>) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      source.off(event, listener as never);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      source.off(event, listener as never);
      reject(new WaitTimeout(`no ${String(event)} event within ${timeoutMs} ms`));
    }, timeoutMs);
    source.on(event, listener as never);
  });
}
