/**
 * Tags: short labels an operator puts on devices ("pilot", "region:north", "fw-3.2-beta") to select them
 * later. Case-sensitive; letters and digits, and . _ : - after the first character; at most
 * MAX_TAG_LENGTH characters and MAX_TAGS_PER_DEVICE per device.
 */
export const MAX_TAG_LENGTH = 64;
export const MAX_TAGS_PER_DEVICE = 32;
/** Tags one request may add or remove (each). */
export const MAX_TAGS_PER_REQUEST = 32;

export const TAG_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]*$';
const TAG = new RegExp(TAG_PATTERN);

/** Why `tag` is not a valid tag, or undefined when it is. */
export function tagProblem(tag: string): string | undefined {
  if (tag.length === 0) return 'a tag cannot be empty';
  if (tag.length > MAX_TAG_LENGTH) return `${JSON.stringify(tag.slice(0, 20) + '…')} is longer than ${MAX_TAG_LENGTH} characters`;
  if (!TAG.test(tag)) return `${JSON.stringify(tag)} is not a valid tag: letters and digits, and . _ : - after the first character`;
  return undefined;
}

/** What a change does to one device: the tags it ends with, or why it was refused (then nothing changed). */
export type TagPlan =
  | { readonly device: string; readonly kind: 'change'; readonly tags: readonly string[]; readonly added: readonly string[]; readonly removed: readonly string[] }
  | { readonly device: string; readonly kind: 'refused'; readonly code: 'not-found' | 'too-many-tags'; readonly message: string };

/**
 * The rule of a tag change, the same on both engines: each device's tags after removing `remove` and adding
 * `add`, refused for a device that does not exist or would hold more than `max` tags (a device over `max`
 * already, after the limit was lowered, may still lose tags). `current`: the tags of the devices that exist.
 */
export function planTagChange(devices: readonly string[], current: ReadonlyMap<string, readonly string[]>, add: readonly string[], remove: readonly string[], max: number): TagPlan[] {
  const removing = new Set(remove);
  return devices.map((device): TagPlan => {
    const had = current.get(device);
    if (had === undefined) return { device, kind: 'refused', code: 'not-found', message: `device ${JSON.stringify(device)} not found` };
    const before = new Set(had);
    const after = new Set(had.filter((t) => !removing.has(t)));
    for (const t of add) after.add(t);
    if (after.size > max && after.size > before.size) {
      return { device, kind: 'refused', code: 'too-many-tags', message: `device ${JSON.stringify(device)} would have ${after.size} tags; at most ${max} are allowed` };
    }
    return {
      device,
      kind: 'change',
      tags: [...after].sort(byCodePoint),
      added: [...after].filter((t) => !before.has(t)),
      removed: [...before].filter((t) => !after.has(t)),
    };
  });
}

/** Tags are shown sorted the same way on both engines (whatever a database's collation). */
export const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
