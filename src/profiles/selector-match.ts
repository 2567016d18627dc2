import type { CompareOp, Condition, Literal, ValueField } from '../devices/selector/ast.js';
import { globRegExp } from '../devices/selector/glob.js';
import { numberOf, versionKey } from '../devices/selector/version-key.js';

/**
 * What memory knows of a device during its Inform. A value that is `null` is known to be absent (a
 * comparison with it is false, as in the store); a value memory does not have (tags, a parameter the Inform
 * did not carry, lastSeen) is `undefined`, and the store decides.
 */
export interface DeviceFacts {
  readonly id: string;
  readonly oui: string;
  readonly productClass: string;
  readonly serialNumber: string;
  readonly natId: string | null;
  readonly behindNat: boolean;
  readonly online: boolean;
  readonly lastInform: number;
  /** A parameter's value as the Inform carried it; undefined: the Inform did not. */
  param(path: string): string | undefined;
  readonly softwareVersion: string | undefined;
  readonly hardwareVersion: string | undefined;
}

/**
 * Decides a selector in memory with three values: true, false, or undefined when it depends on what only the
 * store has (then DeviceSelection.matching asks it). Where it decides, it decides as compile.ts's SQL does:
 * two-valued logic over known values (a comparison with an absent value is false; NOT of it true), text in
 * byte order of UTF-8, versions by their key, numbers when both sides are plain decimals. Pure.
 */
export function matchInMemory(c: Condition, f: DeviceFacts, now: number, globs: GlobCache = new Map()): boolean | undefined {
  switch (c.kind) {
    case 'and': {
      let unknown = false;
      for (const i of c.items) {
        const r = matchInMemory(i, f, now, globs);
        if (r === false) return false;
        if (r === undefined) unknown = true;
      }
      return unknown ? undefined : true;
    }
    case 'or': {
      let unknown = false;
      for (const i of c.items) {
        const r = matchInMemory(i, f, now, globs);
        if (r === true) return true;
        if (r === undefined) unknown = true;
      }
      return unknown ? undefined : false;
    }
    case 'not': {
      const r = matchInMemory(c.item, f, now, globs);
      return r === undefined ? undefined : !r;
    }
    case 'flag':
      return c.name === 'online' ? f.online === c.value : f.behindNat === c.value;
    default:
      return leaf(c, f, now, globs);
  }
}

type Leaf = Extract<Condition, { kind: 'compare' | 'in' | 'like' }>;

/** LIKE patterns compiled to RegExps, kept by the caller between evaluations (its profiles' patterns). */
export type GlobCache = Map<string, RegExp>;
const MAX_GLOBS = 1000;

/** The field's value: a string, null (absent: false), or undefined (memory does not know). */
function valueOf(field: ValueField, f: DeviceFacts): string | number | null | undefined {
  switch (field.kind) {
    case 'tag':
      return undefined;
    case 'param':
      return f.param(field.path);
    case 'version':
      return field.name === 'softwareVersion' ? f.softwareVersion : f.hardwareVersion;
    case 'time':
      return field.name === 'lastInform' ? f.lastInform : undefined;
    case 'text':
      return field.name === 'id' ? f.id : field.name === 'natId' ? f.natId : f[field.name];
  }
}

const bytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

function ordered(op: CompareOp, cmp: number): boolean {
  switch (op) {
    case '=':
      return cmp === 0;
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
  }
}

function leaf(c: Leaf, f: DeviceFacts, now: number, globs: GlobCache): boolean | undefined {
  const v = valueOf(c.field, f);
  if (v === undefined) return undefined;
  if (v === null) return false;
  if (c.kind === 'like') {
    let re = globs.get(c.pattern);
    if (!re) {
      if (globs.size >= MAX_GLOBS) globs.clear();
      globs.set(c.pattern, (re = globRegExp(c.pattern)));
    }
    return typeof v === 'string' && re.test(v);
  }
  const literals = c.kind === 'in' ? c.values : [c.value];
  const op: CompareOp = c.kind === 'in' ? '=' : c.op;
  const test = (l: Literal): boolean | undefined => {
    if (c.field.kind === 'version') return 'value' in l && typeof v === 'string' ? ordered(op, bytes(versionKey(v), versionKey(String(l.value)))) : undefined;
    if (l.type === 'number') {
      const n = typeof v === 'number' ? v : numberOf(v);
      return n === null ? false : ordered(op, n - l.value);
    }
    if (l.type === 'time') {
      if (typeof v !== 'number') return undefined;
      return ordered(op, v - ('at' in l ? l.at : now + l.fromNow));
    }
    return typeof v === 'string' ? ordered(op, bytes(v, l.value)) : undefined;
  };
  let unknown = false;
  for (const l of literals) {
    const r = test(l);
    if (r === true) return true;
    if (r === undefined) unknown = true;
  }
  return unknown ? undefined : false;
}
