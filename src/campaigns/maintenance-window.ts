import type { MaintenanceWindow, Weekday } from './campaign.js';

const WEEKDAYS: Record<string, Weekday> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** The wall clock in a time zone: the weekday and the milliseconds since local midnight. */
export function localTime(now: number, timezone: string, format = formatterFor(timezone)): { weekday: Weekday; msOfDay: number } {
  const parts: Record<string, string> = {};
  for (const p of format.formatToParts(new Date(now))) parts[p.type] = p.value;
  const ms = now % 1000 < 0 ? 0 : now % 1000;
  return { weekday: WEEKDAYS[parts['weekday']!]!, msOfDay: ((Number(parts['hour']) % 24) * 3600 + Number(parts['minute']) * 60 + Number(parts['second'])) * 1000 + ms };
}

/**
 * The first date formatter of a process loads ICU's locale data: 12-46 ms of the event loop here, which
 * the first campaign created would otherwise pay while STBs wait (35 ms in a profile of bench:campaign).
 * Later formatters, of any time zone, cost 0.1-0.3 ms. The daemon calls this once at start.
 */
export function loadTimeZoneData(): void {
  formatterFor('UTC').formatToParts(0);
}

export function formatterFor(timezone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', { timeZone: timezone, weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
}

export type WindowStatus = { readonly open: true; readonly closesAt: number } | { readonly open: false };

const DAY_MS = 86_400_000;

/**
 * Whether work may start now, and when the window closes. No window is all day (closing at local
 * midnight). A window crossing midnight belongs to the day it opens. Time-zone changes inside a
 * window (summer time) may move its end by the shift: the end is reckoned from the wall clock now.
 */
export function windowStatus(now: number, window: MaintenanceWindow | undefined, days: readonly Weekday[], timezone: string, format?: Intl.DateTimeFormat): WindowStatus {
  const { weekday, msOfDay } = localTime(now, timezone, format);
  const yesterday = ((weekday + 6) % 7) as Weekday;
  const start = (window?.start ?? 0) * 60_000;
  const end = (window?.end ?? 1440) * 60_000;
  if (start < end) {
    return days.includes(weekday) && msOfDay >= start && msOfDay < end ? { open: true, closesAt: now + end - msOfDay } : { open: false };
  }
  if (msOfDay >= start && days.includes(weekday)) return { open: true, closesAt: now + DAY_MS - msOfDay + end };
  if (msOfDay < end && days.includes(yesterday)) return { open: true, closesAt: now + end - msOfDay };
  return { open: false };
}
