import type { ParameterValue } from '../management/cwmp-soap.js';
import type { Notification } from '../management/task.js';
import { isSecretName } from '../secret-names.js';
import type { Profile } from './profile.js';
import { renderTemplate, templateNeeds, type TemplateFacts } from './templates.js';

/** What one evaluation decided, per parameter and per profile. Pure. */
export interface Evaluation {
  /** Names whose last known value is needed first (a GetParameterValues); empty when every value is known. */
  readonly unknown: readonly string[];
  /** The values to set: the winners' values that differ from the last known ones. */
  readonly differences: readonly ParameterValue[];
  /** The profiles that win at least one of `differences`. */
  readonly setting: ReadonlySet<string>;
  /** The notification attributes to set (the winner's, per parameter), of the profiles in `attributing`. */
  readonly attributes: readonly { readonly name: string; readonly notification: Notification }[];
  readonly attributing: ReadonlySet<string>;
}

export interface EvaluationInput {
  /** The matching profiles. */
  readonly profiles: readonly Profile[];
  /** The parameter roots the device's data model uses ('Device.' or 'InternetGatewayDevice.'). */
  readonly root: string;
  readonly facts: Omit<TemplateFacts, 'param'>;
  /** The last known value; undefined when not known (never read, a secret, or not trusted after a reset). */
  known(name: string): string | undefined;
  /**
   * Profiles whose values are sent even where they cannot be compared (secret parameters, never stored)
   * and whose notification attributes are set: new to the device, changed, or the device was reset.
   */
  readonly renewed: ReadonlySet<string>;
  /** The profiles evaluated now: every matching profile takes part in who wins a parameter, only these report. */
  readonly active: ReadonlySet<string>;
}

/** Higher priority first; at the same priority, by name (so the answer never depends on load order). */
export const byPriority = (a: Profile, b: Profile): number => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Whether a last known value already is the desired one (booleans as 1/0 or true/false, times as instants). */
export function sameValue(type: string, known: string, desired: string): boolean {
  if (known === desired) return true;
  if (type === 'xsd:boolean') {
    const b = (v: string) => ({ '1': 'true', true: 'true', '0': 'false', false: 'false' })[v.trim().toLowerCase()];
    return b(known) !== undefined && b(known) === b(desired);
  }
  if (type === 'xsd:dateTime') {
    const a = Date.parse(known);
    return !Number.isNaN(a) && a === Date.parse(desired);
  }
  return false;
}

export function evaluate(input: EvaluationInput): Evaluation {
  const profiles = [...input.profiles].sort(byPriority);
  const claimed = new Set<string>();
  const unknown = new Set<string>();
  const differences: ParameterValue[] = [];
  const setting = new Set<string>();
  const attributes: { name: string; notification: Notification }[] = [];
  const attributing = new Set<string>();
  const claimedAttributes = new Set<string>();
  for (const p of profiles) {
    const active = input.active.has(p.name);
    for (const v of p.values) {
      if (!v.name.startsWith(input.root) || claimed.has(v.name)) continue;
      claimed.add(v.name);
      if (!active) continue;
      const needs = templateNeeds(v.template);
      const value = v.perDevice ? v.perDevice(input.facts.id) : renderTemplate(v.template, { ...input.facts, param: (path) => input.known(path) });
      if (value === undefined) {
        for (const n of needs.params) if (input.known(n) === undefined) unknown.add(n);
        continue;
      }
      if (isSecretName(v.name)) {
        // Never stored, so never known: sent when the profile is renewed for the device.
        if (input.renewed.has(p.name)) differences.push({ name: v.name, value, type: v.type }), setting.add(p.name);
        continue;
      }
      const known = input.known(v.name);
      if (known === undefined) unknown.add(v.name);
      else if (!sameValue(v.type, known, value)) differences.push({ name: v.name, value, type: v.type }), setting.add(p.name);
    }
    for (const n of p.notifications) {
      if (!n.name.startsWith(input.root) || claimedAttributes.has(n.name)) continue;
      claimedAttributes.add(n.name);
      if (!active || !input.renewed.has(p.name)) continue;
      attributes.push({ name: n.name, notification: n.notification });
      attributing.add(p.name);
    }
  }
  return { unknown: [...unknown], differences, setting, attributes, attributing };
}

/** Every name an evaluation of these profiles may read: their parameters and the ones their templates use. */
export function namesRead(profiles: readonly Profile[], root: string): string[] {
  const names = new Set<string>();
  for (const p of profiles) {
    for (const v of p.values) {
      if (!v.name.startsWith(root)) continue;
      names.add(v.name);
      for (const n of templateNeeds(v.template).params) names.add(n);
    }
  }
  return [...names];
}
