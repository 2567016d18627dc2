import { type Check, type CheckResult, type CheckStatus, worst } from './check.js';

export interface HealthReport {
  readonly status: CheckStatus;
  readonly checks: Readonly<Record<string, CheckResult>>;
}

/** Runs every check; the daemon is as healthy as its worst part. */
export class HealthService {
  constructor(private readonly checks: Readonly<Record<string, Check>>) {}

  async report(): Promise<HealthReport> {
    const results = await Promise.all(
      Object.entries(this.checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
        try {
          return [name, await check()];
        } catch (err) {
          // A check that throws is a bug in the check, but the part it watches is then unknown: say so.
          return [name, { status: 'failing', detail: `the check itself failed: ${err instanceof Error ? err.message : String(err)}` }];
        }
      }),
    );
    const checks = Object.fromEntries(results);
    return { status: worst(Object.values(checks).map((c) => c.status)), checks };
  }
}
