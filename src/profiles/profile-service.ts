import type { PeriodicInformProfile } from './builtin-periodic-inform.js';
import { PERIODIC_INFORM_PROFILE, type Profile, type ProfileStatus } from './profile.js';
import { type ProfileCatalog, ProfileError } from './profile-catalog.js';
import type { Applied, ProfileEngine } from './profile-engine.js';
import type { ProfileCounts, ProfileRepo } from './profile-repo.js';

/** A profile as stbctl and the API show it. */
export interface ProfileView {
  readonly name: string;
  readonly selector: string;
  readonly priority: number;
  readonly events: readonly string[] | null;
  readonly values: readonly { readonly name: string; readonly value: string; readonly type: string }[];
  readonly notifications: readonly { readonly name: string; readonly notification: string }[];
  readonly revision: string;
  readonly builtin: boolean;
  readonly counts: ProfileCounts;
}

/** Devices evaluated in one apply call, at most (stbctl sends a page at a time, paced). */
export const MAX_APPLY_BATCH = 1000;

/** What the API and stbctl do with profiles: the catalog's changes, the statuses, apply now. */
export class ProfileService {
  constructor(
    private readonly catalog: ProfileCatalog,
    private readonly engine: ProfileEngine,
    private readonly repo: ProfileRepo,
    private readonly periodicInform: PeriodicInformProfile | undefined,
  ) {}

  add(source: string): Promise<{ profile: Profile; replaced: boolean }> {
    return this.catalog.add(source);
  }

  async remove(name: string): Promise<void> {
    if (name === PERIODIC_INFORM_PROFILE) throw new ProfileError('invalid', `${JSON.stringify(name)} is built in: [cwmp] periodic_inform_profile = false turns it off`);
    await this.catalog.remove(name);
  }

  /** Every profile with its counts (the built-in one first, when on). */
  async list(): Promise<ProfileView[]> {
    const out: ProfileView[] = [];
    for (const p of this.#all()) out.push(await this.#view(p));
    return out;
  }

  /** @throws ProfileError not-found */
  async show(name: string, faultsAfter: string, limit: number): Promise<{ profile: ProfileView; source: string | null; faults: ProfileStatus[] }> {
    const p = this.#find(name);
    const source = p.builtin ? null : (await this.catalog.stored(name)).source;
    return { profile: await this.#view(p), source, faults: await this.repo.faults(name, faultsAfter, limit) };
  }

  /** The profile's selector, for stbctl to page through its devices (undefined: every device). */
  selectorOf(name: string): string {
    return this.#find(name).selector;
  }

  /** Evaluates these devices now for the profile (renewing it: its values compared, its attributes set again). */
  async apply(name: string, deviceIds: readonly string[]): Promise<Record<Applied, number>> {
    this.#find(name);
    if (deviceIds.length > MAX_APPLY_BATCH) throw new ProfileError('invalid', `at most ${MAX_APPLY_BATCH} devices per call`);
    const counts: Record<Applied, number> = { queued: 0, compliant: 0, busy: 0, 'not-matching': 0, 'never-informed': 0 };
    for (const id of deviceIds) counts[await this.engine.evaluateNow(id, { forced: name })]++;
    return counts;
  }

  #all(): Profile[] {
    const builtin = this.periodicInform ? [this.periodicInform.for('Device.')] : [];
    return [...builtin, ...this.catalog.profiles];
  }

  #find(name: string): Profile {
    const p = this.#all().find((x) => x.name === name);
    if (!p) throw new ProfileError('not-found', `no profile named ${JSON.stringify(name)}`);
    return p;
  }

  async #view(p: Profile): Promise<ProfileView> {
    const values = p.builtin ? p.values.map((v) => ({ name: v.name.replace(/^Device\./, '{root}'), value: v.template, type: v.type })) : p.values.map((v) => ({ name: v.name, value: v.template, type: v.type }));
    return { name: p.name, selector: p.selector, priority: p.priority, events: p.events ?? null, values, notifications: p.notifications, revision: p.revision, builtin: p.builtin, counts: await this.repo.counts(p.name) };
  }
}
