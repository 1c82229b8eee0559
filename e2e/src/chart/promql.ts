/**
 * What the chart's PrometheusRule and Grafana dashboard ask of Prometheus: their expressions,
 * checked with rulecheck (Prometheus's own rule-file validation and PromQL parser), and the metric
 * names they read — to be compared with what the gateway and the operator export.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import yaml from 'js-yaml';

import { CommandError, run } from '../util/exec.js';
import { getArray, getRecord, getString, isRecord } from '../util/guards.js';

export interface ExprCheck {
  /** The rule (alert or record name) or dashboard panel the expression belongs to. */
  readonly where: string;
  readonly expr: string;
  readonly metrics: readonly string[];
  /** Why Prometheus would refuse it. */
  readonly error?: string;
}

interface RulecheckLine {
  group?: string;
  name?: string;
  expr: string;
  metrics?: string[];
  error?: string;
}

async function rulecheck(bin: string, args: readonly string[], input?: string): Promise<RulecheckLine[]> {
  let stdout: string;
  try {
    stdout = (await run(bin, args, { timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) })).stdout;
  } catch (err) {
    // Exit 1: something is wrong, and said on stdout; anything else is a failure to run.
    if (!(err instanceof CommandError) || err.exitCode !== 1) throw err;
    stdout = err.stdout;
  }
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RulecheckLine);
}

/**
 * Validates the rule groups of a PrometheusRule (`spec.groups` is the rule-file format) the way
 * `promtool check rules` does; one check per rule, plus one per file-level error.
 */
export async function checkPrometheusRule(bin: string, rule: unknown): Promise<ExprCheck[]> {
  const spec = getRecord(rule, 'spec');
  if (!spec) throw new Error('the PrometheusRule has no spec');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jarvis-rules-'));
  try {
    const file = path.join(dir, 'rules.yaml');
    await writeFile(file, yaml.dump({ groups: spec['groups'] }));
    const lines = await rulecheck(bin, ['rules', file]);
    return lines.map((l) => ({
      where: l.name ? `${l.group ?? ''}/${l.name}` : 'rule file',
      expr: l.expr,
      metrics: l.metrics ?? [],
      ...(l.error ? { error: l.error } : {}),
    }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Grafana's variables, replaced by values Prometheus accepts in their places. */
export function grafanaToPromql(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}|\$__range|\$\{__range\}/g, '5m')
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, '.*');
}

/** Every PromQL expression of a dashboard: panel targets (rows' nested panels too) and query variables. */
export function dashboardExprs(dashboard: unknown): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const visit = (panels: unknown[]): void => {
    for (const panel of panels) {
      const title = getString(panel, 'title') ?? '(untitled)';
      for (const target of getArray(panel, 'targets')) {
        const expr = getString(target, 'expr');
        if (expr !== undefined) out.push({ where: `panel "${title}"`, expr });
      }
      visit(getArray(panel, 'panels'));
    }
  };
  visit(getArray(dashboard, 'panels'));
  for (const variable of getArray(getRecord(dashboard, 'templating'), 'list')) {
    if (getString(variable, 'type') !== 'query') continue;
    const query = getRecord(variable, 'query');
    const text = isRecord(query) ? getString(query, 'query') : getString(variable, 'query');
    // label_values(metric, label) is Grafana's, not PromQL: its metric is the selector inside.
    const m = text ? /^label_values\((.+),\s*\w+\)$/.exec(text) : null;
    if (m?.[1]) out.push({ where: `variable ${getString(variable, 'name') ?? ''}`, expr: m[1] });
    else if (text) out.push({ where: `variable ${getString(variable, 'name') ?? ''}`, expr: text });
  }
  return out;
}

/** Parses dashboard expressions (Grafana variables replaced) with Prometheus's parser. */
export async function checkDashboard(bin: string, dashboard: unknown): Promise<ExprCheck[]> {
  const exprs = dashboardExprs(dashboard);
  if (exprs.length === 0) return [];
  const lines = await rulecheck(bin, ['exprs'], JSON.stringify(exprs.map((e) => grafanaToPromql(e.expr))));
  if (lines.length !== exprs.length) throw new Error(`rulecheck answered ${lines.length} lines for ${exprs.length} expressions`);
  return lines.map((l, i) => ({
    where: exprs[i]?.where ?? '?',
    expr: exprs[i]?.expr ?? l.expr,
    metrics: l.metrics ?? [],
    ...(l.error ? { error: l.error } : {}),
  }));
}
