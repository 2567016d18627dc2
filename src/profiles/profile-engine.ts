import type { Clock } from '../clock.js';
import type { DeviceSelection } from '../devices/selection.js';
import { generateSecret } from '../devices/secrets.js';
import type { Logger } from '../log/logger.js';
import type { CwmpDeviceRepo, CwmpDeviceState } from '../management/cwmp-device-repo.js';
import type { ParameterValue } from '../management/cwmp-soap.js';
import { type DataModelRoot, FINISHED, type Task, type TaskRequest } from '../management/task.js';
import type { TaskQueue } from '../management/task-queue.js';
import type { PeriodicInformProfile } from './builtin-periodic-inform.js';
import { evaluate, namesRead } from './desired.js';
import type { Profile, ProfileStatus } from './profile.js';
import type { ProfileCatalog } from './profile-catalog.js';
import type { ProfileRepo } from './profile-repo.js';
import { afterFailedFetch, afterSetTask, sameStatus } from './profile-rules.js';
import { type DeviceFacts, type GlobCache, matchInMemory } from './selector-match.js';
import { templateNeeds } from './templates.js';

export interface ProfileEngineDeps {
  readonly catalog: Pick<ProfileCatalog, 'profiles'>;
  /** The built-in periodic Inform profile; undefined: [cwmp] periodic_inform_profile = false. */
  readonly periodicInform: PeriodicInformProfile | undefined;
  readonly repo: ProfileRepo;
  readonly tasks: TaskQueue;
  readonly state: Pick<CwmpDeviceRepo, 'get'>;
  readonly selection: Pick<DeviceSelection, 'matching'>;
  readonly isOnline: (deviceId: string) => boolean;
  readonly clock: Clock;
  readonly log: Logger;
}

/** What evaluating one device now did (stbctl profile apply counts these). */
export type Applied = 'queued' | 'compliant' | 'busy' | 'not-matching' | 'never-informed';

interface Mode {
  /** The values just fetched for the profiles: the stored ones are trusted even after a reset. */
  readonly afterFetch?: boolean;
  /** `stbctl profile apply`: this profile is evaluated and renewed whatever its events. */
  readonly forced?: string;
}

/**
 * Profiles applied on Inform. Every matching profile takes part (higher priority wins per parameter); what
 * the winners want is compared with the last known values, and the differences go out in one
 * SetParameterValues (origin 'profile'), after one GetParameterValues of what is not known yet; notification
 * attributes in one SetParameterAttributes. One profile task at a time per device.
 *
 * Cost on the Inform path: profiles are in memory and their selectors decided in memory where the Inform
 * tells enough (tags, lastSeen and parameters the Inform does not carry ask the store); a device matching no
 * profile costs no store statement, a matching one one read (its statuses and the values the profiles name),
 * and a write only when something changes.
 */
export class ProfileEngine {
  readonly #d: ProfileEngineDeps;
  /** The profiles' LIKE patterns as RegExps (bounded: cleared past 1,000). */
  readonly #globs: GlobCache = new Map();

  constructor(deps: ProfileEngineDeps) {
    this.#d = deps;
    deps.tasks.subscribe({ finished: (t) => this.#finished(t) });
  }

  /** The catalog's profiles and the built-in one, per data model root: built again when the catalog is reloaded, not per Inform. */
  #lists: { readonly catalog: readonly Profile[]; readonly byRoot: Map<DataModelRoot, readonly Profile[]> } = { catalog: [], byRoot: new Map() };

  #profilesFor(root: DataModelRoot): readonly Profile[] {
    const catalog = this.#d.catalog.profiles;
    if (catalog !== this.#lists.catalog) this.#lists = { catalog, byRoot: new Map() };
    let list = this.#lists.byRoot.get(root);
    if (list === undefined) {
      list = this.#d.periodicInform ? [...catalog, this.#d.periodicInform.for(root)] : catalog;
      this.#lists.byRoot.set(root, list);
    }
    return list;
  }

  async #matching(profiles: readonly Profile[], state: CwmpDeviceState, inform: ReadonlyMap<string, string>): Promise<Profile[]> {
    const root = state.dataModel;
    const facts: DeviceFacts = {
      id: state.deviceId,
      oui: state.oui,
      productClass: state.productClass,
      serialNumber: state.serialNumber,
      natId: state.natId,
      behindNat: state.behindNat,
      online: this.#d.isOnline(state.deviceId),
      lastInform: state.lastInformAt,
      param: (p) => inform.get(p),
      softwareVersion: inform.get(`${root}DeviceInfo.SoftwareVersion`),
      hardwareVersion: inform.get(`${root}DeviceInfo.HardwareVersion`),
    };
    const now = this.#d.clock.now();
    const out: Profile[] = [];
    for (const p of profiles) {
      if (!p.values.some((v) => v.name.startsWith(root)) && !p.notifications.some((n) => n.name.startsWith(root))) continue;
      let match = p.condition === undefined ? true : matchInMemory(p.condition, facts, now, this.#globs);
      if (match === undefined) match = (await this.#d.selection.matching(p.condition!, [state.deviceId])).length > 0;
      if (match) out.push(p);
    }
    return out;
  }

  /** After the Inform is recorded (its parameters are the freshest values). */
  async onInform(state: CwmpDeviceState, parameters: readonly ParameterValue[], events: readonly string[]): Promise<void> {
    const profiles = this.#profilesFor(state.dataModel);
    if (profiles.length === 0) return;
    const inform = new Map(parameters.map((p) => [p.name, p.value]));
    const matching = await this.#matching(profiles, state, inform);
    if (matching.length === 0) return;
    await this.#evaluate(state, matching, inform, events, {});
  }

  /** Evaluates one device now, with what the store knows (after a fetch; stbctl profile apply). */
  async evaluateNow(deviceId: string, mode: Mode = {}): Promise<Applied> {
    const state = await this.#d.state.get(deviceId);
    if (!state) return 'never-informed';
    const matching = await this.#matching(this.#profilesFor(state.dataModel), state, new Map());
    if (mode.forced !== undefined && !matching.some((p) => p.name === mode.forced)) return 'not-matching';
    if (matching.length === 0) return 'not-matching';
    return this.#evaluate(state, matching, new Map(), [], mode);
  }

  async #openTask(statuses: readonly ProfileStatus[]): Promise<boolean> {
    for (const s of statuses) {
      for (const id of [s.taskId, s.attributesTaskId]) {
        if (id === null) continue;
        const t = await this.#d.tasks.get(id);
        if (t && !FINISHED.has(t.status)) return true;
      }
    }
    return false;
  }

  async #evaluate(state: CwmpDeviceState, matching: readonly Profile[], inform: ReadonlyMap<string, string>, events: readonly string[], mode: Mode): Promise<Applied> {
    const { repo, clock, log } = this.#d;
    const id = state.deviceId;
    const root = state.dataModel;
    const ctx = await repo.context(id, namesRead(matching, root));
    const names = new Set(matching.map((p) => p.name));
    const stale = ctx.statuses.filter((s) => !names.has(s.profile)).map((s) => s.profile);
    if (stale.length > 0) await repo.dropStatuses(id, stale);
    const rows = new Map(ctx.statuses.map((s) => [s.profile, s]));
    if (await this.#openTask(ctx.statuses)) return 'busy';
    const reset = events.includes('0 BOOTSTRAP');
    const boot = reset || events.includes('1 BOOT');
    const active = matching.filter((p) => {
      const r = rows.get(p.name);
      if (!r || r.revision !== p.revision || mode.forced === p.name || reset) return true;
      if (r.state === 'fault') return boot;
      if (r.state === 'pending') return true;
      return p.events === undefined || p.events.some((e) => events.includes(e));
    });
    if (active.length === 0) return 'compliant';
    const renewed = new Set(active.filter((p) => reset || mode.forced === p.name || rows.get(p.name)?.revision !== p.revision).map((p) => p.name));
    // After a reset the stored values are a factory-fresh box's no more: only the Inform's are believed until fetched.
    const trustStored = !reset || mode.afterFetch === true;
    const needsSecret = active.some((p) => p.values.some((v) => v.name.startsWith(root) && templateNeeds(v.template).secret));
    const secret = needsSecret ? await repo.secret(id, generateSecret) : undefined;
    const e = evaluate({
      profiles: matching,
      root,
      facts: { id, serialNumber: state.serialNumber, secret },
      known: (n) => inform.get(n) ?? (trustStored ? ctx.values.get(n) : undefined),
      renewed,
      active: new Set(active.map((p) => p.name)),
    });
    const now = clock.now();
    const next: ProfileStatus[] = [];
    const status = (p: Profile, s: Partial<ProfileStatus>): ProfileStatus => ({
      deviceId: id,
      profile: p.name,
      revision: p.revision,
      state: 'compliant',
      taskId: null,
      attributesTaskId: null,
      fault: null,
      updatedAt: now,
      ...s,
    });
    if (e.unknown.length > 0 && !mode.afterFetch) {
      const t = await this.#queue(id, { kind: 'getParameterValues', names: e.unknown }, active.map((p) => p.name));
      log.info({ device: id, profiles: active.map((p) => p.name), parameters: e.unknown.length }, 'profiles: reading the values not known yet');
      // The revision applied stays what it was ('' after a reset): the values are sent, and renewed, once read.
      for (const p of active) next.push(status(p, { state: 'pending', taskId: t.id, revision: reset ? '' : (rows.get(p.name)?.revision ?? '') }));
      await repo.setStatuses(next);
      return 'queued';
    }
    const spv = e.differences.length > 0 ? await this.#queue(id, { kind: 'setParameterValues', values: e.differences }, e.setting) : undefined;
    const spa = e.attributes.length > 0 ? await this.#queue(id, { kind: 'setParameterAttributes', attributes: e.attributes }, e.attributing) : undefined;
    if (spv || spa) log.info({ device: id, profiles: [...new Set([...e.setting, ...e.attributing])], parameters: e.differences.length, attributes: e.attributes.length }, 'profiles: setting the differences');
    for (const p of active) {
      const taskId = spv && e.setting.has(p.name) ? spv.id : null;
      const attributesTaskId = spa && e.attributing.has(p.name) ? spa.id : null;
      // A parameter read and still unknown (the CPE has none of that name) is the profile's fault.
      const missing = mode.afterFetch ? p.values.filter((v) => v.name.startsWith(root) && e.unknown.includes(v.name)).map((v) => v.name) : [];
      const fault = missing.length > 0 ? { code: 9005, message: `the device did not return ${missing.join(', ')}`, task: 0 } : null;
      next.push(status(p, { taskId, attributesTaskId, state: fault ? 'fault' : taskId !== null || attributesTaskId !== null ? 'pending' : 'compliant', fault }));
    }
    const changed = next.filter((s) => !sameStatus(rows.get(s.profile), s));
    if (changed.length > 0) await repo.setStatuses(changed);
    return spv || spa ? 'queued' : 'compliant';
  }

  #queue(deviceId: string, request: TaskRequest, profiles: Iterable<string>): Promise<Task> {
    return this.#d.tasks.queue(deviceId, request, { origin: 'profile', profiles: [...new Set(profiles)].sort() }).then((r) => r.task);
  }

  async #finished(t: Task): Promise<void> {
    if (t.origin !== 'profile') return;
    const { repo, clock } = this.#d;
    const rows = await repo.ofTask(t.deviceId, t.id);
    if (rows.length === 0) return;
    const now = clock.now();
    if (t.request.kind === 'getParameterValues') {
      if (t.status === 'done') await this.evaluateNow(t.deviceId, { afterFetch: true });
      else await repo.setStatuses(afterFailedFetch(rows, t, now));
      return;
    }
    await repo.setStatuses(afterSetTask(rows, t, now));
    if (t.status === 'fault') this.#d.log.warn({ device: t.deviceId, task: t.id, profiles: rows.map((r) => r.profile), fault: t.fault }, 'profiles: the device refused');
  }
}
