/** The chart's values.yaml, values.schema.json and crds/, checked without helm. */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';

import { chartDir, repoCrdsDir, repoRoot } from '../paths.js';
import { isRecord } from '../util/guards.js';

type Schema = Record<string, unknown>;

const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as Schema;
const values: unknown = yaml.load(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
const defs = (schema['$defs'] ?? {}) as Record<string, Schema>;

/** A schema node with its $ref and allOf wrappers resolved. */
function resolve(node: Schema): Schema {
  const ref = node['$ref'];
  if (typeof ref === 'string') {
    const target = defs[ref.replace('#/$defs/', '')];
    if (!target) throw new Error(`unresolved ${ref}`);
    return resolve(target);
  }
  const allOf = node['allOf'];
  if (Array.isArray(allOf) && allOf.length === 1 && isRecord(allOf[0])) return resolve(allOf[0]);
  return node;
}

/** Whether an object schema is a free-form map (labels, annotations, resources…). */
function isFreeMap(node: Schema): boolean {
  return node['type'] === 'object' && node['properties'] === undefined && node['additionalProperties'] !== false;
}

/** Every value path of values.yaml whose schema is not found, and every value without a description. */
function walk(value: unknown, node: Schema, at: string, problems: string[]): void {
  const s = resolve(node);
  if (isRecord(value) && !isFreeMap(s)) {
    const props = (s['properties'] ?? {}) as Record<string, Schema>;
    if (s['additionalProperties'] !== false) problems.push(`${at || '/'}: the schema allows keys it does not describe`);
    for (const [key, child] of Object.entries(value)) {
      const childSchema = props[key];
      if (!childSchema) problems.push(`${at}/${key}: no schema`);
      else walk(child, childSchema, `${at}/${key}`, problems);
    }
    for (const key of Object.keys(props)) if (!(key in value)) problems.push(`${at}/${key}: in the schema, not in values.yaml`);
  }
  if (at !== '' && typeof node['description'] !== 'string' && typeof s['description'] !== 'string') {
    problems.push(`${at}: no description`);
  }
}

describe('charts/jarvis-stability values', () => {
  it('values.schema.json describes every value of values.yaml, closes every object, and nothing more', () => {
    const problems: string[] = [];
    walk(values, schema, '', problems);
    expect(problems).toEqual([]);
  });

  it('the walk finds an undocumented value, a value without schema and an open object', () => {
    const problems: string[] = [];
    walk(
      { image: { repository: 'r', tag: '', pullPolicy: 'Always', extra: 1 }, operator: {} },
      {
        type: 'object',
        additionalProperties: false,
        properties: {
          image: schema['properties'] && (schema['properties'] as Schema)['image'],
          operator: { type: 'object', properties: { replicas: { type: 'integer' } } },
        },
      } as Schema,
      '',
      problems,
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        '/image/extra: no schema',
        '/operator: the schema allows keys it does not describe',
        '/operator/replicas: in the schema, not in values.yaml',
        '/operator: no description',
      ]),
    );
  });

  it("the chart's appVersion is the repository's version", () => {
    const chart = yaml.load(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe('charts/jarvis-stability/crds', () => {
  it('holds exactly the files of crds/, byte for byte (npm run generate writes both)', () => {
    const list = (dir: string) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.yaml'))
        .sort();
    const chartCrds = path.join(chartDir, 'crds');
    expect(list(chartCrds)).toEqual(list(repoCrdsDir));
    for (const file of list(repoCrdsDir)) {
      expect(readFileSync(path.join(chartCrds, file), 'utf8'), file).toBe(readFileSync(path.join(repoCrdsDir, file), 'utf8'));
    }
  });
});
