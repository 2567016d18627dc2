import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../../config/duration.js';

/** The API's cap on a long poll. */
export const MAX_WAIT_S = 300;
const MAX_EXPIRY_S = 365 * 86_400;

/** Plain seconds ("30", "0.5") or the config's duration syntax ("10s", "5m", "500ms"), in seconds. */
function seconds(v: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  const ms = parseDuration(v);
  return ms === undefined ? undefined : ms / 1000;
}

/** Whole seconds, plain ("90") or as a duration ("90s", "10m"); undefined for anything else. */
export function wholeSeconds(v: string): number | undefined {
  const n = seconds(v);
  return n !== undefined && Number.isInteger(n) ? n : undefined;
}

/** --wait: up to the API's cap; fractions allowed. */
export function waitSeconds(v: string): number {
  const n = seconds(v);
  if (n === undefined || n > MAX_WAIT_S) throw new InvalidArgumentError(`expected seconds from 0 to ${MAX_WAIT_S} (e.g. 30, 10s, 5m, 500ms).`);
  return n;
}

/** --expires-in: whole seconds, as the API takes it. */
export function expirySeconds(v: string): number {
  const n = seconds(v);
  if (n === undefined || !Number.isInteger(n) || n < 1 || n > MAX_EXPIRY_S) throw new InvalidArgumentError(`expected whole seconds from 1 to ${MAX_EXPIRY_S} (e.g. 3600, 90s, 10m, 12h, 30d).`);
  return n;
}

export function positiveInt(what: string, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^[1-9][0-9]*$/.test(v) || Number(v) > max) throw new InvalidArgumentError(`expected ${what} (a whole number from 1${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}).`);
    return Number(v);
  };
}
