/**
 * A small YAML writer for the manifests we generate (plain objects, lists, strings, numbers,
 * booleans): block style like the files in examples/, strings quoted only when YAML would read
 * them as something else.
 */
export type YamlValue = string | number | boolean | null | readonly YamlValue[] | { readonly [key: string]: YamlValue | undefined };

const PLAIN = /^[A-Za-z_/.][A-Za-z0-9_./-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(value: string | number | boolean | null): string {
  if (value === null) return 'null';
  if (typeof value !== 'string') return String(value);
  return PLAIN.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
}

function isScalar(value: YamlValue): value is string | number | boolean | null {
  return value === null || typeof value !== 'object';
}

function lines(value: YamlValue, indent: string): string[] {
  if (isScalar(value)) return [`${indent}${scalar(value)}`];
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}[]`];
    const out: string[] = [];
    for (const item of value as readonly YamlValue[]) {
      if (isScalar(item)) out.push(`${indent}- ${scalar(item)}`);
      else {
        const inner = lines(item, `${indent}  `);
        out.push(`${indent}- ${(inner[0] ?? '').trimStart()}`, ...inner.slice(1));
      }
    }
    return out;
  }
  const entries = Object.entries(value).filter((e): e is [string, YamlValue] => e[1] !== undefined);
  if (entries.length === 0) return [`${indent}{}`];
  const out: string[] = [];
  for (const [key, v] of entries) {
    const k = scalar(key);
    const empty = Array.isArray(v) ? v.length === 0 : !isScalar(v) && Object.keys(v).length === 0;
    if (isScalar(v) || empty) out.push(`${indent}${k}: ${isScalar(v) ? scalar(v) : Array.isArray(v) ? '[]' : '{}'}`);
    else out.push(`${indent}${k}:`, ...lines(v, `${indent}  `));
  }
  return out;
}

/** One YAML document. */
export function toYaml(value: YamlValue): string {
  return `${lines(value, '').join('\n')}\n`;
}

/** Several documents separated by `---`. */
export function toYamlDocuments(values: readonly YamlValue[]): string {
  return values.map(toYaml).join('---\n');
}
