import { isSecretName } from '../secret-names.js';
import type { ParameterValue } from './cwmp-soap.js';
import type { CapFault } from './cwmp-device-repo.js';

/** The values a device's parameters may keep: no secret ones, each name once (its last value). */
export function storable(parameters: readonly ParameterValue[]): ParameterValue[] {
  const byName = new Map<string, ParameterValue>();
  for (const p of parameters) if (!isSecretName(p.name)) byName.set(p.name, p);
  return [...byName.values()];
}

/** Whether writing `values` onto `stored` stored parameters could pass `max`, so which names are new must be known. */
export const mayOverflow = (values: readonly ParameterValue[], stored: number, max: number): boolean => stored + values.length > max;

/**
 * Which of `values` (from `storable`) to write: values of names the device has are always written (`known`,
 * needed only when `mayOverflow`), new names while there is room. `left`: how many the cap left out.
 */
export function capParameters(values: readonly ParameterValue[], stored: number, max: number, known: ReadonlySet<string>): { readonly write: ParameterValue[]; readonly left: number } {
  if (!mayOverflow(values, stored, max)) return { write: [...values], left: 0 };
  let room = max - stored;
  const write: ParameterValue[] = [];
  for (const p of values) {
    const isNew = !known.has(p.name);
    if (isNew && room <= 0) continue;
    if (isNew) room--;
    write.push(p);
  }
  return { write, left: values.length - write.length };
}

export const capFault = (left: number, max: number): CapFault => ({
  code: 0,
  message: `${left} parameter values not stored: the device has ${max} stored, the most [cwmp] max_parameters_per_device allows`,
});
