import t from 'tap';
import { emptyCounts, type StateCounts } from '../src/campaigns/campaign.js';
import { CampaignInputError, campaignSpec, parseDays, parseWaves, parseWindow } from '../src/campaigns/campaign-input.js';
import { afterOutcome, commandTransition, stopReason, waveBounds, waveRange, waveStep } from '../src/campaigns/campaign-rules.js';
import { windowStatus } from '../src/campaigns/maintenance-window.js';
import { afterInform, afterTransfer } from '../src/campaigns/verification.js';

const counts = (c: Partial<StateCounts>): StateCounts => ({ ...emptyCounts(), ...c });

t.test('a campaign definition is checked and defaulted', async (t) => {
  const spec = campaignSpec({ where: "tag = 'pilot'", set: [{ name: 'Device.X.Y', value: '1' }], waves: '10%,50%,100%', window: '02:00-05:00', days: 'mon-fri', stopFailureRate: '5%' });
  t.same(spec.waves, [0.1, 0.5, 1]);
  t.same(spec.window, { start: 120, end: 300 });
  t.same(spec.days, [1, 2, 3, 4, 5]);
  t.equal(spec.stopFailureRate, 0.05);
  t.equal(spec.maxAttempts, 1);
  t.same(spec.action, { kind: 'set', values: [{ name: 'Device.X.Y', value: '1', type: 'xsd:string' }] });
  t.same(parseDays('fri-mon'), [0, 1, 5, 6]);
  t.same(parseWindow('22:00-04:00'), { start: 1320, end: 240 });
  for (const bad of ['50%,10%,100%', '10%,50%', '0%,100%', 'x']) t.throws(() => parseWaves(bad), CampaignInputError, bad);
  t.throws(() => parseWindow('25:00-03:00'), CampaignInputError);
  t.throws(() => parseDays('mon-xyz'), CampaignInputError);
  t.throws(() => campaignSpec({ where: 'online', firmware: 'f', timezone: 'Mars/Olympus' }), /time zone/);
  t.throws(() => campaignSpec({ where: 'online' }), /either --firmware/);
  t.throws(() => campaignSpec({ where: 'online', firmware: 'f', set: [{ name: 'A.B', value: '1' }] }), /not both/);
  t.throws(() => campaignSpec({ where: 'online', firmware: 'f', concurrency: 0 }), /--concurrency/);
});

t.test('commands move a campaign only from the states they apply to', async (t) => {
  t.same(commandTransition('draft', 'start'), { to: 'running' });
  t.same(commandTransition('running', 'pause'), { to: 'paused' });
  t.same(commandTransition('paused', 'resume'), { to: 'running' });
  t.same(commandTransition('paused', 'cancel'), { to: 'cancelled' });
  t.match(commandTransition('done', 'cancel'), { refused: /the campaign is done/ });
  t.match(commandTransition('running', 'start'), { refused: /draft/ });
});

t.test('waves are cumulative ranges of the selection, the canary first', async (t) => {
  const b = waveBounds(200, [0.1, 0.5, 1]);
  t.same(b, [0, 20, 100, 200]);
  t.same(waveRange(b, 0).hi, 0);
  t.same(waveRange(b, 2), { lo: 20, hi: 100 });
  t.same(waveBounds(3, [0.1, 1]), [0, 1, 3]);
});

t.test('the wave steps: work under the cap, stop rule, canary, next wave, done', async (t) => {
  const spec = campaignSpec({ where: 'online', firmware: 'f', canary: 2, waves: '50%,100%', concurrency: 3, stopFailureRate: '10%' });
  const c = { wave: 1, acceptedWave: -1, spec, bounds: [0, 5, 10] };
  t.same(waveStep(c, counts({ pending: 4, 'in-progress': 1 }), 1), { kind: 'work', free: 2 });
  t.same(waveStep(c, counts({ pending: 4, 'in-progress': 3 }), 3), { kind: 'work', free: 0 });
  t.same(waveStep(c, counts({ succeeded: 5 }), 0), { kind: 'next-wave', wave: 2 });
  t.same(waveStep({ ...c, wave: 2 }, counts({ succeeded: 5 }), 0), { kind: 'done' });
  // 1 of 5 failed is 20%, above 10%: paused, and saying why.
  t.match(waveStep(c, counts({ failed: 1, pending: 4 }), 0), { kind: 'pause', reason: /wave 1 has 1 of 5 devices failed \(20%\), above --stop-failure-rate 10%/ });
  t.same(stopReason({ ...c, spec: { ...spec, stopFailureRate: 0.2 } }, counts({ failed: 1, pending: 4 })), undefined);
  // Resumed by the operator: the stop rule of that wave no longer applies.
  t.same(waveStep({ ...c, acceptedWave: 1 }, counts({ failed: 1, pending: 4 }), 0), { kind: 'work', free: 3 });
  const canary = { ...c, wave: 0 };
  t.match(waveStep(canary, counts({ failed: 1, succeeded: 1 }), 0), { kind: 'pause', reason: /canary: 1 of 2 devices failed/ });
  t.match(waveStep(canary, counts({ skipped: 1, succeeded: 1 }), 0), { kind: 'pause', reason: /canary: 1 of 2 devices did not run/ });
  t.same(waveStep(canary, counts({ succeeded: 2 }), 0), { kind: 'next-wave', wave: 1 });
});

t.test('a failed try with tries left goes back to pending', async (t) => {
  t.equal(afterOutcome({ kind: 'failed', reason: 'x' }, 1, 2), 'pending');
  t.equal(afterOutcome({ kind: 'failed', reason: 'x' }, 2, 2), 'failed');
  t.equal(afterOutcome({ kind: 'succeeded' }, 1, 2), 'succeeded');
  t.equal(afterOutcome({ kind: 'skipped', reason: 'x' }, 1, 2), 'skipped');
});

t.test('maintenance window in a time zone, on given days', async (t) => {
  const w = parseWindow('02:00-05:00');
  const weekdays = parseDays('mon-fri');
  // 2026-01-05 is a Monday. 03:00 in Paris is 02:00 UTC.
  const mon0200utc = Date.parse('2026-01-05T02:00:00Z');
  t.same(windowStatus(mon0200utc, w, weekdays, 'Europe/Paris'), { open: true, closesAt: Date.parse('2026-01-05T04:00:00Z') });
  t.same(windowStatus(mon0200utc, w, weekdays, 'UTC'), { open: true, closesAt: Date.parse('2026-01-05T05:00:00Z') });
  t.same(windowStatus(Date.parse('2026-01-05T05:00:00Z'), w, weekdays, 'UTC'), { open: false });
  t.same(windowStatus(Date.parse('2026-01-05T01:59:59Z'), w, weekdays, 'UTC'), { open: false });
  // Saturday: closed all day.
  t.same(windowStatus(Date.parse('2026-01-10T03:00:00Z'), w, weekdays, 'UTC'), { open: false });
  // A window crossing midnight belongs to the day it opens: Friday 23:00 → Saturday 04:00 is open, Saturday 23:00 is not.
  const night = parseWindow('22:00-04:00');
  t.same(windowStatus(Date.parse('2026-01-10T01:00:00Z'), night, weekdays, 'UTC'), { open: true, closesAt: Date.parse('2026-01-10T04:00:00Z') });
  t.same(windowStatus(Date.parse('2026-01-09T23:00:00Z'), night, weekdays, 'UTC'), { open: true, closesAt: Date.parse('2026-01-10T04:00:00Z') });
  t.same(windowStatus(Date.parse('2026-01-10T23:00:00Z'), night, weekdays, 'UTC'), { open: false });
  // No window: all day, closing at local midnight.
  t.same(windowStatus(Date.parse('2026-01-05T10:00:00Z'), undefined, weekdays, 'UTC'), { open: true, closesAt: Date.parse('2026-01-06T00:00:00Z') });
});

t.test('firmware success is verified by the version an Inform reports', async (t) => {
  t.match(afterTransfer({ code: 9010, message: 'Download failure' }, undefined, '2.0'), { kind: 'failed', reason: 'download failed: TransferComplete fault 9010 Download failure' });
  t.same(afterTransfer(null, { events: ['1 BOOT', '7 TRANSFER COMPLETE'], softwareVersion: '2.0' }, '2.0'), { kind: 'succeeded' });
  t.match(afterTransfer(null, { events: ['1 BOOT', '7 TRANSFER COMPLETE'], softwareVersion: '1.0' }, '2.0'), { kind: 'failed', reason: 'came back on version 1.0, not 2.0' });
  // TransferComplete before the reboot: wait for the boot.
  t.equal(afterTransfer(null, { events: ['7 TRANSFER COMPLETE'], softwareVersion: '1.0' }, '2.0'), undefined);
  t.equal(afterInform({ events: ['2 PERIODIC'], softwareVersion: '1.0' }, '2.0'), undefined);
  t.same(afterInform({ events: ['2 PERIODIC'], softwareVersion: '2.0' }, '2.0'), { kind: 'succeeded' });
});
