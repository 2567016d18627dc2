import type { Clock } from '../clock.js';
import type { TagRepo } from './tag-repo.js';
import { MAX_TAGS_PER_DEVICE, MAX_TAGS_PER_REQUEST, type TagPlan, tagProblem } from './tag-rules.js';

/** Tags a caller gave that cannot be used; nothing was changed. */
export class TagInputError extends Error {
  override name = 'TagInputError';
}

/** Devices one change may name (a page of a bulk change). */
export const MAX_DEVICES_PER_CHANGE = 1000;

/** Device tags: checked here, changed in one unit of work per call. */
export class DeviceTags {
  constructor(
    private readonly repo: TagRepo,
    private readonly clock: Clock,
    readonly maxPerDevice = MAX_TAGS_PER_DEVICE,
  ) {}

  /**
   * Removes `remove` and adds `add` on each device.
   * @throws TagInputError for a tag that is not valid, too many tags, or a tag both added and removed
   */
  async change(devices: readonly string[], add: readonly string[], remove: readonly string[]): Promise<TagPlan[]> {
    const problem = changeProblem(add, remove);
    if (problem) throw new TagInputError(problem);
    if (devices.length > MAX_DEVICES_PER_CHANGE) throw new TagInputError(`at most ${MAX_DEVICES_PER_CHANGE} devices a change`);
    const unique = [...new Set(devices)];
    return unique.length === 0 ? [] : this.repo.change(unique, [...new Set(add)], [...new Set(remove)], this.maxPerDevice, this.clock.now());
  }

  /** A device's tags, sorted. */
  async of(device: string): Promise<string[]> {
    return (await this.repo.of([device])).get(device) ?? [];
  }

  /** The tags of a page of devices (devices without tags are absent). */
  ofMany(devices: readonly string[]): Promise<Map<string, string[]>> {
    return this.repo.of(devices);
  }
}

/** Why a change's tag lists cannot be used, or undefined. */
export function changeProblem(add: readonly string[], remove: readonly string[]): string | undefined {
  if (add.length === 0 && remove.length === 0) return 'give at least one tag to add or remove';
  if (add.length > MAX_TAGS_PER_REQUEST || remove.length > MAX_TAGS_PER_REQUEST) return `at most ${MAX_TAGS_PER_REQUEST} tags to add and ${MAX_TAGS_PER_REQUEST} to remove at once`;
  for (const t of [...add, ...remove]) {
    const problem = tagProblem(t);
    if (problem) return problem;
  }
  const removing = new Set(remove);
  const both = add.find((t) => removing.has(t));
  return both === undefined ? undefined : `${JSON.stringify(both)} is both added and removed`;
}
