import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from './helpers/daemon.js';
import { startInProcess } from './helpers/in-process.js';

// The Grafana dashboard and the Prometheus alerts in contrib/ must only name metrics stbd exports:
// renaming a metric without updating them fails here.

const DASHBOARD = join(ROOT, 'contrib', 'grafana', 'stbd.json');
const ALERTS = join(ROOT, 'contrib', 'prometheus', 'alerts.yml');

/** Every PromQL expression in the dashboard: panel targets (rows nest panels too) and template-variable queries. */
function dashboardExprs(dashboard: any): string[] {
  const out: string[] = [];
  const visit = (panels: any[] | undefined) => {
    for (const p of panels ?? []) {
      for (const target of p.targets ?? []) if (typeof target.expr === 'string') out.push(target.expr);
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (typeof v.definition === 'string' && v.definition) out.push(v.definition);
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (v.type === 'query' && typeof q === 'string') out.push(q);
  }
  return out;
}

interface Rule {
  readonly alert: string;
  readonly expr: string;
  /** The rule's own lines, for checking which keys it has. */
  readonly text: string;
}

const indentOf = (line: string) => line.length - line.trimStart().length;

/** A YAML scalar on one line: quotes removed (the rules file uses no escapes inside them), trailing comment dropped. */
function scalar(raw: string): string {
  const v = raw.trim();
  if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) return v.slice(1, -1);
  return v.replace(/\s+#.*$/, '');
}

/**
 * The alerting rules of a Prometheus rules file, read without a YAML parser (stbd has none): each
 * `- alert: NAME` item up to the next item at its indent, and its `expr:`, either on one line or as a
 * block scalar (`|`, `>`, `|-`…) whose lines are those indented deeper than the key.
 */
function readRules(yaml: string): Rule[] {
  const lines = yaml.split('\n');
  const rules: Rule[] = [];
  for (let i = 0; i < lines.length; i++) {
    const item = /^(\s*)- alert:\s*(.+)$/.exec(lines[i]!);
    if (!item) continue;
    const itemIndent = item[1]!.length;
    let end = i + 1;
    while (end < lines.length && (lines[end]!.trim() === '' || lines[end]!.trim().startsWith('#') || indentOf(lines[end]!) > itemIndent)) end++;
    const body = lines.slice(i, end);
    let expr: string | undefined;
    for (let j = 1; j < body.length; j++) {
      const m = /^(\s*)expr:\s*(.*)$/.exec(body[j]!);
      if (!m) continue;
      const keyIndent = m[1]!.length;
      const value = m[2]!.trim();
      if (/^[|>][-+]?$/.test(value)) {
        const block: string[] = [];
        for (let k = j + 1; k < body.length && (body[k]!.trim() === '' || indentOf(body[k]!) > keyIndent); k++) block.push(body[k]!.trim());
        expr = block.join('\n').trim();
      } else {
        expr = scalar(value);
      }
    }
    if (expr === undefined || expr === '') throw new Error(`alert ${item[2]} has no expr`);
    rules.push({ alert: scalar(item[2]!), expr, text: body.join('\n') });
    i = end - 1;
  }
  return rules;
}

/** The stbd_* metric names an expression refers to. */
const namesIn = (expr: string): string[] => expr.match(/\bstbd_[a-z0-9_]+/g) ?? [];

/** Metric name → type, from the `# TYPE` lines of a Prometheus text exposition. */
function exportedTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  return types;
}

/** Whether `name` is exported: a `# TYPE name` line, or a histogram/summary series (_bucket, _sum, _count) of one. */
function isExported(name: string, types: Map<string, string>): boolean {
  if (types.has(name)) return true;
  const series = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!series) return false;
  const type = types.get(series[1]!);
  return type === 'histogram' || (type === 'summary' && series[2] !== 'bucket');
}

t.test('contrib/ dashboard and alerts name only metrics stbd exports', async (t) => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const rules = readRules(readFileSync(ALERTS, 'utf8'));
  const dashExprs = dashboardExprs(dashboard);
  const alertExprs = rules.map((r) => r.expr);

  const d = await startInProcess(t.testdir());
  t.teardown(() => d.daemon.stop());
  const res = await fetch(`${d.url}/metrics`);
  t.equal(res.status, 200);
  const types = exportedTypes(await res.text());
  // HELP/TYPE lines are printed for every registered metric, samples or not: no traffic needed.
  t.ok(types.has('stbd_cwmp_sessions_total') && types.has('stbd_process_cpu_seconds_total'), 'labelled and default metrics have TYPE lines without traffic');

  t.test('the checker itself', async (t) => {
    t.ok(isExported('stbd_cas_request_duration_seconds_bucket', types), 'histogram series');
    t.ok(isExported('stbd_cas_request_duration_seconds_count', types));
    t.notOk(isExported('stbd_pool_entries_count', types), 'no _count on a gauge');
    t.notOk(isExported('stbd_no_such_metric_total', types), 'an unknown name');
    t.notOk(isExported('stbd_cas_error_total', types), 'a renamed one');
    t.same(namesIn('sum(rate(stbd_a_total{job=~"$job"}[$__rate_interval])) / stbd_b'), ['stbd_a_total', 'stbd_b']);
    t.same(
      readRules('groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          stbd_x\n          or stbd_y\n        for: 1m\n      - alert: "B"\n        expr: \'stbd_z > 0\'\n'),
      [
        { alert: 'A', expr: 'stbd_x\nor stbd_y', text: '      - alert: A\n        expr: |\n          stbd_x\n          or stbd_y\n        for: 1m' },
        { alert: 'B', expr: 'stbd_z > 0', text: '      - alert: "B"\n        expr: \'stbd_z > 0\'\n' },
      ],
    );
  });

  t.test('every stbd_* name in the dashboard is exported', async (t) => {
    const names = new Set(dashExprs.flatMap(namesIn));
    t.ok(names.size >= 30, `${names.size} names found in ${dashExprs.length} expressions`);
    for (const name of [...names].sort()) t.ok(isExported(name, types), name);
  });

  t.test('every stbd_* name in the alerts is exported', async (t) => {
    const names = new Set(alertExprs.flatMap(namesIn));
    t.ok(names.size >= 6, `${names.size} names found in ${alertExprs.length} expressions`);
    for (const name of [...names].sort()) t.ok(isExported(name, types), name);
  });

  t.test('the dashboard has panels, templated datasource, job and instance, and rates over $__rate_interval', async (t) => {
    const all: any[] = [];
    const visit = (ps: any[] | undefined) => ps?.forEach((p) => (all.push(p), visit(p.panels)));
    visit(dashboard.panels);
    const graphs = all.filter((p) => p.type !== 'row');
    t.ok(graphs.length >= 20, `${graphs.length} panels`);
    t.ok(graphs.every((p) => p.targets?.length > 0), 'each panel has a query');
    t.ok(all.filter((p) => p.type === 'row').length >= 6, 'rows');
    t.ok(dashboard.schemaVersion >= 36);
    const vars = dashboard.templating.list.map((v: any) => v.name);
    for (const v of ['datasource', 'job', 'instance']) t.ok(vars.includes(v), `variable ${v}`);
    for (const expr of dashExprs.filter((e) => e.includes('stbd_') && !e.startsWith('label_values'))) {
      t.match(expr, /job=~"\$job", instance=~"\$instance"/, `filtered by $job and $instance: ${expr}`);
      for (const m of expr.matchAll(/\b(rate|irate|increase)\([^[]*\[([^\]]+)\]/g)) t.equal(m[2], '$__rate_interval', expr);
    }
  });

  t.test('the alerts file has the expected alerts, each complete', async (t) => {
    const names = rules.map((r) => r.alert);
    for (const a of ['StbdDown', 'StbdHealthDegraded', 'StbdCasErrors', 'StbdCaErrors', 'StbdRecycleBacklogGrowing', 'StbdCertificatesExpired', 'StbdKeepaliveRejectSurge']) {
      t.ok(names.includes(a), a);
    }
    t.equal(new Set(names).size, names.length, 'names are unique');
    for (const r of rules) {
      for (const key of [/^\s+for:\s*\d+[smhd]\s*$/m, /^\s+severity:\s*(critical|warning|info)\s*$/m, /^\s+summary:\s*\S/m, /^\s+description:\s*\S/m]) t.match(r.text, key, `${r.alert} has ${key.source}`);
    }
    t.match(rules.find((r) => r.alert === 'StbdDown')?.expr, /up\{job="stbd"\} == 0/);
    t.match(rules.find((r) => r.alert === 'StbdCertificatesExpired')?.expr, /stbd_certificates\{[^}]*status="expired"/);
  });
});
