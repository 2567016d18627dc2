import { readFileSync } from 'node:fs';
import semver from 'semver';
import t from 'tap';

/**
 * Every package an installation runs (the lock file's entries but the development tools') declares, where it
 * declares any, that it supports the first release of each Node line stbd supports (`engines` in package.json).
 * A dependency that drops a line fails here on whichever Node runs the suite, before an operator's `npm ci`
 * warns EBADENGINE (or refuses, under engine-strict) on that line.
 */
interface LockEntry {
  readonly version?: string;
  readonly dev?: boolean;
  readonly engines?: { readonly node?: string } | readonly string[];
}

const read = (name: string): unknown => JSON.parse(readFileSync(new URL(`../${name}`, import.meta.url), 'utf8'));
const manifest = read('package.json') as { engines: { node: string } };
const lock = read('package-lock.json') as { packages: Record<string, LockEntry> };

/** The lowest version of each `||` alternative of the range: 20.12.0, 22.0.0, 24.0.0 for stbd's. */
function firstReleases(range: string): string[] {
  return new semver.Range(range).set.map((alternative) => {
    const min = semver.minVersion(alternative.map((c) => c.value).join(' '));
    if (min === null) throw new Error(`no version satisfies ${range}`);
    return min.version;
  });
}

t.test('stbd supports the lines its docs name', async (t) => {
  t.same(firstReleases(manifest.engines.node), ['20.12.0', '22.0.0', '24.0.0']);
});

t.test('every runtime dependency supports every Node line stbd supports', async (t) => {
  const lines = firstReleases(manifest.engines.node);
  const runtime = Object.entries(lock.packages).filter(([path, entry]) => path !== '' && entry.dev !== true);
  t.ok(runtime.some(([path]) => path === 'node_modules/fastify'), 'the lock file lists the runtime dependencies');
  const refusing: string[] = [];
  for (const [path, entry] of runtime) {
    // The old array form of `engines` was never enforced by npm; only the object form is read.
    const range = entry.engines !== undefined && !Array.isArray(entry.engines) ? (entry.engines as { node?: string }).node : undefined;
    if (range === undefined) continue;
    for (const node of lines) {
      if (!semver.satisfies(node, range)) refusing.push(`${path.replace(/^.*node_modules\//, '')}@${entry.version} wants node ${range}, not ${node}`);
    }
  }
  t.same(refusing, [], 'no runtime dependency refuses a supported line');
});
