import { isAbsolute, resolve } from 'node:path';
import { parseDuration } from './duration.js';
import { type ListenAddress, parseListen } from './listen.js';
import { type Cidr, parseCidr } from '../trusted-proxies.js';

/**
 * One config key. `default` is written as it would be in the TOML file, and goes through the same
 * `parse` as a given value, so defaults and files can never be read differently.
 */
export interface Field<T> {
  readonly default: string | boolean | number | readonly string[];
  /** Returns the typed value, or a Problem saying what is wrong with `value`. */
  parse(value: unknown, ctx: ParseContext): T | Problem;
}

export interface ParseContext {
  /** Relative paths in the config are resolved against this directory. */
  readonly cwd: string;
}

export class Problem {
  constructor(readonly message: string) {}
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : `${JSON.stringify(v) ?? String(v)} (${typeof v})`);

export function pathField(defaultPath: string): Field<string> {
  return {
    default: defaultPath,
    parse(v, ctx) {
      if (typeof v !== 'string' || v.trim() === '') return new Problem(`expected a non-empty file path, got ${show(v)}`);
      return isAbsolute(v) ? v : resolve(ctx.cwd, v);
    },
  };
}

export function listenField(defaultText: string): Field<ListenAddress> {
  return {
    default: defaultText,
    parse(v) {
      const a = typeof v === 'string' ? parseListen(v) : undefined;
      return a ?? new Problem(`expected "IP:PORT" or "[IPv6]:PORT" (e.g. "127.0.0.1:7557"), got ${show(v)}`);
    },
  };
}

export function durationField(defaultText: string, minMs = 0): Field<number> {
  return {
    default: defaultText,
    parse(v) {
      const ms = typeof v === 'string' ? parseDuration(v) : undefined;
      if (ms === undefined) return new Problem(`expected a duration such as "500ms", "30s", "10m", "12h" or "30d", got ${show(v)}`);
      return ms >= minMs ? ms : new Problem(`must be at least ${minMs} ms, got ${show(v)}`);
    },
  };
}

export function oneOfField<const T extends string>(values: readonly T[], defaultValue: T): Field<T> {
  return {
    default: defaultValue,
    parse(v) {
      if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
      return new Problem(`expected one of ${values.map((x) => JSON.stringify(x)).join(', ')}, got ${show(v)}`);
    },
  };
}

/** A duration that may be left empty (""), meaning "derived from other keys". */
export function optionalDurationField(defaultText: string, minMs = 0): Field<number | undefined> {
  const inner = durationField('0s', minMs);
  return {
    default: defaultText,
    parse: (v, ctx) => (v === '' ? undefined : inner.parse(v, ctx)),
  };
}

/** A listen address, or "" for none (that listener is off). */
export function optionalListenField(defaultText: string): Field<ListenAddress | undefined> {
  const inner = listenField(defaultText);
  return {
    default: defaultText,
    parse(v, ctx) {
      if (v === '') return undefined;
      const a = inner.parse(v, ctx);
      return a instanceof Problem ? new Problem(`expected "" (off), "IP:PORT" or "[IPv6]:PORT" (e.g. "0.0.0.0:7548"), got ${show(v)}`) : a;
    },
  };
}

/** A list of IPv4 and IPv6 networks ("10.0.0.0/8", "2001:db8::/32", or one address). */
export function cidrListField(): Field<readonly Cidr[]> {
  return {
    default: [],
    parse(v) {
      if (!Array.isArray(v)) return new Problem(`expected a list of networks such as ["10.0.0.0/8", "2001:db8::/32"], got ${show(v)}`);
      const out: Cidr[] = [];
      for (const item of v as unknown[]) {
        const c = typeof item === 'string' ? parseCidr(item) : undefined;
        if (!c) return new Problem(`expected networks such as "10.0.0.0/8", "2001:db8::/32" or one address, got ${show(item)}`);
        out.push(c);
      }
      return out;
    },
  };
}

/** An IPv6 listen address ("[::]:3478"), or "" for none. */
export function optionalIpv6ListenField(defaultText: string): Field<ListenAddress | undefined> {
  return {
    default: defaultText,
    parse(v) {
      if (v === '') return undefined;
      const a = typeof v === 'string' ? parseListen(v) : undefined;
      return a?.host.includes(':') ? a : new Problem(`expected "" (off) or "[IPv6]:PORT" (e.g. "[::]:3478"), got ${show(v)}`);
    },
  };
}

export function booleanField(defaultValue: boolean): Field<boolean> {
  return {
    default: defaultValue,
    parse: (v) => (typeof v === 'boolean' ? v : new Problem(`expected true or false, got ${show(v)}`)),
  };
}

export function integerField(defaultValue: number, min: number, max: number): Field<number> {
  return {
    default: defaultValue,
    parse: (v) =>
      typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : new Problem(`expected a whole number from ${min} to ${max}, got ${show(v)}`),
  };
}

/** Free text (may be empty); its meaning is checked where it is used, with the key named. */
export function stringField(defaultValue: string): Field<string> {
  return {
    default: defaultValue,
    parse: (v) => (typeof v === 'string' ? v : new Problem(`expected a string, got ${show(v)}`)),
  };
}

/** A file path, or "" for none. */
export function optionalPathField(defaultPath: string): Field<string | undefined> {
  const inner = pathField('x');
  return {
    default: defaultPath,
    parse: (v, ctx) => (v === '' ? undefined : inner.parse(v, ctx)),
  };
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** A size in bytes: a whole number, or a string such as "4096", "64KiB", "512MiB", "2GiB". */
export function sizeField(defaultText: string, min: number, max: number): Field<number> {
  return {
    default: defaultText,
    parse(v) {
      const m = typeof v === 'string' ? /^(\d{1,16})\s*(B|KiB|MiB|GiB)?$/.exec(v.trim()) : undefined;
      const bytes = typeof v === 'number' && Number.isInteger(v) ? v : m ? Number(m[1]) * SIZE_UNITS[m[2] ?? '']! : undefined;
      if (bytes === undefined) return new Problem(`expected a size such as "64KiB", "512MiB" or "2GiB", got ${show(v)}`);
      return bytes >= min && bytes <= max ? bytes : new Problem(`must be from ${min} to ${max} bytes, got ${show(v)}`);
    },
  };
}
