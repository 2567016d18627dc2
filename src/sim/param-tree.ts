import { CwmpFault, FaultCode, faultMessage, type ParameterFault } from './cwmp-fault.js';

export type XsdType = 'xsd:string' | 'xsd:boolean' | 'xsd:unsignedInt' | 'xsd:int' | 'xsd:dateTime';

export interface ParamDef {
  readonly name: string;
  readonly type: XsdType;
  readonly value: string;
  readonly writable: boolean;
  /** Passwords: stored, but read back as an empty string (TR-069). */
  readonly hidden?: boolean;
  /** Values that change all the time (counters, UpTime): active notification is refused (9009). */
  readonly noActiveNotification?: boolean;
}

/** A multi-instance object (AddObject/DeleteObject), e.g. `…Forwarding.`. */
export interface TableDef {
  /** The table's path, ending in '.'; instances are `path + n + '.'`. */
  readonly path: string;
  /** The parameters of one instance, named relative to it ("Enable"). */
  readonly instance: readonly Omit<ParamDef, 'hidden'>[];
  /** The `…NumberOfEntries` parameter that follows the instance count. */
  readonly countParam: string;
  /** Instances present in the factory defaults (1..n). */
  readonly defaultInstances: number;
}

export interface TreeDefinition {
  /** "InternetGatewayDevice." or "Device.". */
  readonly root: string;
  readonly params: readonly ParamDef[];
  readonly tables: readonly TableDef[];
  /** Set by SetParameterValues, AddObject and DeleteObject. */
  readonly parameterKey: string;
}

export interface ParameterValue {
  readonly name: string;
  readonly value: string;
  readonly type: string;
}

export interface ParameterInfo {
  readonly name: string;
  readonly writable: boolean;
}

/** TR-069 notification: 0 off, 1 passive (in the next Inform), 2 active (an Inform at once). */
export type NotificationLevel = 0 | 1 | 2;

export interface ParameterAttributes {
  readonly name: string;
  readonly notification: NotificationLevel;
  readonly accessList: readonly string[];
}

/** One SetParameterAttributesStruct. */
export interface AttributeChange {
  readonly name: string;
  readonly notificationChange: boolean;
  readonly notification: number;
  readonly accessListChange: boolean;
  readonly accessList: readonly string[];
}

interface Param {
  value: string;
  readonly type: XsdType;
  readonly writable: boolean;
  readonly hidden: boolean;
  readonly noActive: boolean;
  notification: NotificationLevel;
  accessList: readonly string[];
}

const MAX_UINT = 4294967295;

/** The value as the parameter stores it, or undefined when it is not one of its type. */
export function normalizeValue(type: XsdType, value: string): string | undefined {
  switch (type) {
    case 'xsd:boolean':
      return value === 'true' || value === '1' ? 'true' : value === 'false' || value === '0' ? 'false' : undefined;
    case 'xsd:unsignedInt':
      return /^\d{1,10}$/.test(value) && Number(value) <= MAX_UINT ? String(Number(value)) : undefined;
    case 'xsd:int':
      return /^-?\d{1,10}$/.test(value) && Math.abs(Number(value)) <= 2 ** 31 ? String(Number(value)) : undefined;
    case 'xsd:dateTime':
      return Number.isNaN(Date.parse(value)) ? undefined : value;
    case 'xsd:string':
      return value;
  }
}

/**
 * A device's parameter tree with TR-069 semantics (GetParameterValues/Names, SetParameterValues,
 * AddObject, DeleteObject, factory reset). Pure: no I/O, no clock. Faults are thrown as CwmpFault.
 */
export class ParamTree {
  #params = new Map<string, Param>();
  /** Every object path (ending in '.') with its writability (tables and instances are writable). */
  #objects = new Map<string, boolean>();
  #nextInstance = new Map<string, number>();
  /** Notified parameters the device itself changed since the last Inform that delivered them. */
  #changed = new Set<string>();

  constructor(private readonly definition: TreeDefinition) {
    this.reset();
  }

  get root(): string {
    return this.definition.root;
  }

  /** Back to the factory defaults. */
  reset(): void {
    this.#params.clear();
    this.#objects.clear();
    this.#nextInstance.clear();
    this.#changed.clear();
    for (const p of this.definition.params) this.#add(p.name, { value: p.value, type: p.type, writable: p.writable, hidden: p.hidden === true, noActive: p.noActiveNotification === true, notification: 0, accessList: [] });
    for (const t of this.definition.tables) {
      this.#objects.set(t.path, true);
      this.#nextInstance.set(t.path, 1);
      for (let i = 0; i < t.defaultInstances; i++) this.#addInstance(t);
    }
  }

  /** The stored value (passwords included), for the device's own use. */
  value(name: string): string | undefined {
    return this.#params.get(name)?.value;
  }

  /**
   * The device itself changes a value (read-only ones included; unknown names are ignored). A changed value
   * with notification on is remembered for the next Inform (`changed`).
   * @returns the parameter's notification level when the value changed, else 0
   */
  setInternal(name: string, value: string): NotificationLevel {
    const p = this.#params.get(name);
    if (!p || p.value === value) {
      if (p) p.value = value;
      return 0;
    }
    p.value = value;
    if (p.notification > 0) this.#changed.add(name);
    return p.notification;
  }

  /** Notified parameters the device changed and no Inform has delivered yet, with their values now. */
  changed(): ParameterValue[] {
    return this.getValues([...this.#changed].filter((n) => this.#params.has(n)));
  }

  /** An Inform carrying these names was delivered. */
  delivered(names: readonly string[]): void {
    for (const n of names) this.#changed.delete(n);
  }

  /** GetParameterAttributes: full names and partial paths, as GetParameterValues takes them. */
  getAttributes(names: readonly string[]): ParameterAttributes[] {
    return names.flatMap((name) => this.#select(name).map(([n, p]) => ({ name: n, notification: p.notification, accessList: p.accessList })));
  }

  /**
   * SetParameterAttributes, all or nothing: 9005 for an unknown name, 9003 for a Notification other than
   * 0–2 (no lightweight notification here), 9009 for active notification on a value that changes all the time.
   */
  setAttributes(changes: readonly AttributeChange[]): void {
    const updates: [Param, AttributeChange][] = [];
    for (const c of changes) {
      if (c.notificationChange && ![0, 1, 2].includes(c.notification)) throw new CwmpFault(FaultCode.InvalidArguments, `Notification ${c.notification} is not supported (0, 1 or 2)`);
      for (const [n, p] of this.#select(c.name)) {
        if (c.notificationChange && c.notification === 2 && p.noActive) throw new CwmpFault(FaultCode.NotificationRejected, `active notification is not available for ${n}`);
        updates.push([p, c]);
      }
    }
    for (const [p, c] of updates) {
      if (c.notificationChange) p.notification = c.notification as NotificationLevel;
      if (c.accessListChange) p.accessList = [...c.accessList];
    }
  }

  /** The device's configuration as a file: every writable parameter as NAME=VALUE, passwords empty. */
  configFile(): string {
    const lines = [...this.#params].filter(([, p]) => p.writable).map(([n, p]) => `${n}=${p.hidden ? '' : p.value}`);
    return `${lines.sort().join('\n')}\n`;
  }

  /** GetParameterValues: full names and partial paths ending in '.' ("" is the whole tree). */
  getValues(names: readonly string[]): ParameterValue[] {
    const out: ParameterValue[] = [];
    for (const name of names) {
      for (const [n, p] of this.#select(name)) out.push({ name: n, value: p.hidden ? '' : p.value, type: p.type });
    }
    return out;
  }

  /**
   * SetParameterValues, all or nothing. Returns the names whose value changed. A fault lists every bad
   * parameter; its code is theirs when they agree, else 9003 (Invalid arguments).
   */
  setValues(values: readonly { readonly name: string; readonly value: string }[], parameterKey: string): string[] {
    const faults: ParameterFault[] = [];
    const updates: [Param, string, string][] = [];
    for (const { name, value } of values) {
      const p = this.#params.get(name);
      const code = !p ? FaultCode.InvalidParameterName : !p.writable ? FaultCode.NonWritableParameter : undefined;
      const normalized = p && code === undefined ? normalizeValue(p.type, value) : undefined;
      if (code !== undefined || normalized === undefined) {
        const c = code ?? FaultCode.InvalidParameterValue;
        faults.push({ name, code: c, message: faultMessage(c) });
      } else if (p) {
        updates.push([p, name, normalized]);
      }
    }
    if (faults.length > 0) {
      const codes = new Set(faults.map((f) => f.code));
      const code = codes.size === 1 ? (faults[0] as ParameterFault).code : FaultCode.InvalidArguments;
      throw new CwmpFault(code, faultMessage(code), faults);
    }
    const changed: string[] = [];
    for (const [p, name, value] of updates) {
      if (p.value !== value) changed.push(name);
      p.value = value;
    }
    this.#setOwn(this.definition.parameterKey, parameterKey);
    return changed;
  }

  /** GetParameterNames: `path` itself and its descendants, or only its children when `nextLevel`. */
  getNames(path: string, nextLevel: boolean): ParameterInfo[] {
    if (path === '' && nextLevel) return [{ name: this.root, writable: false }];
    const param = this.#params.get(path);
    if (param) {
      if (nextLevel) throw new CwmpFault(FaultCode.InvalidArguments, 'NextLevel must be false for a parameter name');
      return [{ name: path, writable: param.writable }];
    }
    if (path !== '' && !this.#objects.has(path)) throw new CwmpFault(FaultCode.InvalidParameterName, `no such object: ${path}`);
    const entries: ParameterInfo[] = [];
    const depth = path.split('.').length;
    const childOf = (name: string) => name.startsWith(path) && name !== path && (!nextLevel || name.replace(/\.$/, '').split('.').length === depth);
    for (const [name, writable] of this.#objects) if (childOf(name) || (!nextLevel && name === path)) entries.push({ name, writable });
    for (const [name, p] of this.#params) if (childOf(name)) entries.push({ name, writable: p.writable });
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** AddObject on a table path ("….Forwarding."): returns the new instance number. */
  addObject(path: string, parameterKey: string): number {
    const table = this.definition.tables.find((t) => t.path === path);
    if (!table) throw new CwmpFault(FaultCode.InvalidParameterName, `not a multi-instance object: ${path}`);
    const n = this.#addInstance(table);
    this.#setOwn(this.definition.parameterKey, parameterKey);
    return n;
  }

  /** DeleteObject on an instance path ("….Forwarding.2."). */
  deleteObject(path: string, parameterKey: string): void {
    const table = this.definition.tables.find((t) => path.startsWith(t.path) && /^\d+\.$/.test(path.slice(t.path.length)));
    if (!table || !this.#objects.has(path)) throw new CwmpFault(FaultCode.InvalidParameterName, `no such object instance: ${path}`);
    for (const name of [...this.#params.keys()]) if (name.startsWith(path)) this.#params.delete(name);
    for (const name of [...this.#objects.keys()]) if (name.startsWith(path)) this.#objects.delete(name);
    this.#updateCount(table);
    this.#setOwn(this.definition.parameterKey, parameterKey);
  }

  /** A value the ACS's own request changes (ParameterKey, entry counts): never a notification (TR-069 A.3.2.4). */
  #setOwn(name: string, value: string): void {
    const p = this.#params.get(name);
    if (p) p.value = value;
  }

  #addInstance(table: TableDef): number {
    const n = this.#nextInstance.get(table.path) as number;
    this.#nextInstance.set(table.path, n + 1);
    this.#objects.set(`${table.path}${n}.`, true);
    for (const p of table.instance) this.#add(`${table.path}${n}.${p.name}`, { value: p.value, type: p.type, writable: p.writable, hidden: false, noActive: false, notification: 0, accessList: [] });
    this.#updateCount(table);
    return n;
  }

  #updateCount(table: TableDef): void {
    const instances = [...this.#objects.keys()].filter((o) => o.startsWith(table.path) && /^\d+\.$/.test(o.slice(table.path.length)));
    this.#setOwn(table.countParam, String(instances.length));
  }

  #add(name: string, p: Param): void {
    this.#params.set(name, p);
    // Every prefix ending in '.' is an object; only tables and their instances are writable.
    for (let i = name.indexOf('.'); i >= 0 && i < name.length - 1; i = name.indexOf('.', i + 1)) {
      const object = name.slice(0, i + 1);
      if (!this.#objects.has(object)) this.#objects.set(object, false);
    }
  }

  #select(name: string): [string, Param][] {
    if (name === '' || name.endsWith('.')) {
      if (name !== '' && !this.#objects.has(name)) throw new CwmpFault(FaultCode.InvalidParameterName, `no such object: ${name}`);
      return [...this.#params].filter(([n]) => n.startsWith(name));
    }
    const p = this.#params.get(name);
    if (!p) throw new CwmpFault(FaultCode.InvalidParameterName, `no such parameter: ${name}`);
    return [[name, p]];
  }
}
