import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import type { Profile } from './profile.js';
import { parseProfile, ProfileFileError } from './profile-file.js';
import type { ProfileRepo, StoredProfile } from './profile-repo.js';

export class ProfileError extends Error {
  constructor(
    readonly code: 'not-found' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'ProfileError';
  }
}

export interface ProfileCatalogDeps {
  readonly repo: ProfileRepo;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
}

/** How often a process checks the catalog version (another stbd on the same PostgreSQL may have changed it). */
export const CATALOG_CHECK_MS = 5_000;

/**
 * The operator's profiles, held in memory for the Inform path: loaded at start, loaded again when this
 * process changes them, and when the store's catalog version moved (one single-row read every
 * CATALOG_CHECK_MS: several stbd processes on one PostgreSQL see each other's changes within that).
 */
export class ProfileCatalog {
  readonly #d: ProfileCatalogDeps;
  #profiles: readonly Profile[] = [];
  #version = -1;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(deps: ProfileCatalogDeps) {
    this.#d = deps;
  }

  /** The profiles now, highest priority first. */
  get profiles(): readonly Profile[] {
    return this.#profiles;
  }

  async start(): Promise<void> {
    await this.#reload();
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#d.scheduler.cancel(this.#timer);
  }

  /**
   * Adds a profile from its file, or replaces the one of the same name (devices are evaluated again at
   * their next Inform).
   * @throws ProfileError invalid, with the file's first mistake
   */
  async add(source: string): Promise<{ profile: Profile; replaced: boolean }> {
    let profile: Profile;
    try {
      profile = parseProfile(source);
    } catch (err) {
      if (err instanceof ProfileFileError) throw new ProfileError('invalid', err.message);
      throw err;
    }
    const replaced = await this.#d.repo.put({ name: profile.name, source, revision: profile.revision }, this.#d.clock.now());
    await this.#reload();
    this.#d.log.info({ profile: profile.name, revision: profile.revision, replaced }, replaced ? 'profile replaced' : 'profile added');
    return { profile, replaced };
  }

  /** @throws ProfileError not-found */
  async remove(name: string): Promise<void> {
    if (!(await this.#d.repo.remove(name))) throw notFound(name);
    await this.#reload();
    this.#d.log.info({ profile: name }, 'profile removed');
  }

  /** @throws ProfileError not-found */
  async stored(name: string): Promise<StoredProfile> {
    const p = await this.#d.repo.get(name);
    if (!p) throw notFound(name);
    return p;
  }

  get(name: string): Profile | undefined {
    return this.#profiles.find((p) => p.name === name);
  }

  async #reload(): Promise<void> {
    const version = await this.#d.repo.version();
    const loaded: Profile[] = [];
    for (const s of await this.#d.repo.all()) {
      try {
        loaded.push(parseProfile(s.source));
      } catch (err) {
        this.#d.log.error({ profile: s.name, err: (err as Error).message }, 'stored profile cannot be read: left out');
      }
    }
    loaded.sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : 1));
    this.#profiles = loaded;
    this.#version = version;
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#d.scheduler.at(this.#d.clock.now() + CATALOG_CHECK_MS, () => void this.#check());
  }

  async #check(): Promise<void> {
    try {
      if ((await this.#d.repo.version()) !== this.#version) {
        await this.#reload();
        this.#d.log.info({ profiles: this.#profiles.length }, 'profiles changed in the store: loaded again');
      }
    } catch (err) {
      this.#d.log.warn({ err }, 'checking the profiles version failed; trying again');
    }
    this.#arm();
  }
}

const notFound = (name: string) => new ProfileError('not-found', `no profile named ${JSON.stringify(name)}`);
