import type { TagPlan } from './tag-rules.js';

/** Device tags in the store, one method per unit of work. */
export interface TagRepo {
  /**
   * Removes `remove` and adds `add` on each of `devices` (at most a page of them) as planTagChange rules, in
   * one unit of work: the devices cannot change or go while their tags are read and written. A refused
   * device is left as it was.
   */
  change(devices: readonly string[], add: readonly string[], remove: readonly string[], maxPerDevice: number, at: number): Promise<TagPlan[]>;
  /** The tags of those of `devices` (at most a page of them) that have any, each list sorted. */
  of(devices: readonly string[]): Promise<Map<string, string[]>>;
}

/** Rows of device_tags → tags by device, sorted alike on both engines. */
export function groupTags(rows: readonly { device_id: string; tag: string }[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const r of rows) {
    const list = by.get(r.device_id);
    if (list) list.push(r.tag);
    else by.set(r.device_id, [r.tag]);
  }
  for (const list of by.values()) list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return by;
}

/** The current tags of the devices that exist (an empty list for one without tags), for planTagChange. */
export function currentTags(existing: readonly string[], rows: readonly { device_id: string; tag: string }[]): Map<string, string[]> {
  const tags = groupTags(rows);
  return new Map(existing.map((id) => [id, tags.get(id) ?? []]));
}
