/**
 * Builders for Kubernetes structural schemas. Every builder takes a description first, so that
 * `kubectl explain` can teach every field, and bounds every string and list, so that the
 * apiserver can estimate the cost of the CEL rules that read them. The TypeBox values carry the
 * static TypeScript type of the field as well: the schema is the one source of both.
 */
import {
  Type,
  type Static,
  type TArray,
  type TBoolean,
  type TInteger,
  type TObject,
  type TProperties,
  type TSchema,
  type TString,
  type TUnsafe,
} from '@sinclair/typebox';

export type { Static, TSchema };

/** A CEL rule checked by the apiserver (`x-kubernetes-validations`). */
export interface CelRule {
  readonly rule: string;
  readonly message: string;
  /** JSONPath-like path, relative to the object the rule sits on, of the field to blame. */
  readonly fieldPath?: string;
  readonly reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueForbidden' | 'FieldValueDuplicate';
}

/** GEP-2257 duration: up to four `<number><unit>` parts, units h, m, s, ms; also a Go duration. */
export const DURATION_PATTERN = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';
/** RFC 1123 label: lower case alphanumerics and '-', starting and ending alphanumeric. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** RFC 1123 subdomain. */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** An HTTP header field name (RFC 9110 token). */
export const HEADER_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+\\-.^_`|~]+$";

interface StringOptions {
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly default?: string;
  readonly format?: string;
}

/** A string; at most 253 characters unless told otherwise. */
export function str(description: string, options: StringOptions = {}): TString {
  return Type.String({ description, maxLength: 253, ...options });
}

export function int(
  description: string,
  options: { readonly minimum?: number; readonly maximum?: number; readonly default?: number; readonly format?: 'int32' | 'int64' } = {},
): TInteger {
  return Type.Integer({ description, ...options });
}

export function bool(description: string, options: { readonly default?: boolean } = {}): TBoolean {
  return Type.Boolean({ description, ...options });
}

/** A string enum. (TypeBox unions compile to anyOf, which structural schemas forbid.) */
export function oneOf<const V extends readonly string[]>(
  description: string,
  values: V,
  options: { readonly default?: V[number] } = {},
): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], description, ...options });
}

/** An integer enum, e.g. HTTP status codes a field may take. */
export function intOneOf<const V extends readonly number[]>(
  description: string,
  values: V,
  options: { readonly default?: V[number] } = {},
): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: 'integer', enum: [...values], description, ...options });
}

/**
 * The CEL test that `expr` (a string) is a well-formed duration. A rule that calls `duration()` on
 * a field must test it first: the apiserver runs the CEL rules even when a value fails its
 * pattern, and `duration()` of a malformed string is an evaluation error reported on top of the
 * pattern's own error.
 */
export function isDuration(expr: string): string {
  return `${expr}.matches('${DURATION_PATTERN}')`;
}

/** Bounds of a duration field: GEP-2257 durations, `min` may be `0s`. */
export interface DurationBounds {
  readonly min: string;
  readonly max: string;
}

const ZERO_DURATION = /^(0+(h|m|s|ms))+$/;

/** The rule a duration field carries for its bounds; `durationBoundsOf` reads it back. */
function durationBoundsRule({ min, max }: DurationBounds): CelRule {
  const atMost = `duration(self) <= duration('${max}')`;
  const inRange = ZERO_DURATION.test(min) ? atMost : `duration(self) >= duration('${min}') && ${atMost}`;
  return { rule: `!${isDuration('self')} || (${inRange})`, message: `must be at least ${min} and at most ${max}` };
}

const BOUNDS_RULE =
  /^!self\.matches\('[^']*'\) \|\| \((?:duration\(self\) >= duration\('([^']+)'\) && )?duration\(self\) <= duration\('([^']+)'\)\)$/;

/** The bounds of a duration field's schema (plain JSON), when it is one `duration()` built. */
export function durationBoundsOf(schema: {
  readonly pattern?: unknown;
  readonly 'x-kubernetes-validations'?: unknown;
}): DurationBounds | undefined {
  if (schema.pattern !== DURATION_PATTERN || !Array.isArray(schema['x-kubernetes-validations'])) return undefined;
  for (const r of schema['x-kubernetes-validations'] as readonly { readonly rule?: unknown }[]) {
    const m = typeof r.rule === 'string' ? BOUNDS_RULE.exec(r.rule) : null;
    if (m) return { min: m[1] ?? '0s', max: m[2]! };
  }
  return undefined;
}

/** Whether a rule is the bounds rule of a duration field (not a cross-field rule). */
export function isDurationBoundsRule(rule: string): boolean {
  return BOUNDS_RULE.test(rule);
}

/**
 * A duration with the bounds that make sense for it; the description says them. Every duration is
 * bounded: a value the IR or the gateway cannot use must be refused by the apiserver, or it would
 * hold up every later update of the gateway's config.
 */
export function duration(description: string, options: DurationBounds & { readonly default?: string }): TString {
  const { min, max, ...rest } = options;
  return Type.String({
    description: `${description} A duration such as 500ms, 30s, 5m or 1h30m (GEP-2257), from ${min} to ${max}.`,
    pattern: DURATION_PATTERN,
    maxLength: 32,
    ...rest,
    'x-kubernetes-validations': [durationBoundsRule({ min, max })],
  });
}

/** An integer percentage, 0-100 unless narrowed. */
export function percent(
  description: string,
  options: { readonly minimum?: number; readonly maximum?: number; readonly default?: number } = {},
): TInteger {
  return int(`${description} In percent.`, { minimum: 0, maximum: 100, ...options });
}

interface ObjectOptions {
  readonly rules?: readonly CelRule[];
  /**
   * Give the object a default made of its properties' defaults, so that leaving it out equals
   * writing `{}`. (The apiserver checks a default against the CEL rules as written: a bare `{}`
   * would fail rules that read the defaulted properties.)
   */
  readonly defaulted?: boolean;
}

function defaultsOf(properties: TProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(properties)) {
    const value = (schema as { default?: unknown }).default;
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * An object. A property with a default is not `required` in the schema (the apiserver fills it
 * in), while the static type keeps it: the TypeScript type is the object after defaulting.
 */
export function obj<P extends TProperties>(description: string, properties: P, options: ObjectOptions = {}): TObject<P> {
  const schema = Type.Object(properties, {
    description,
    ...(options.rules && options.rules.length > 0 ? { 'x-kubernetes-validations': options.rules } : {}),
    ...(options.defaulted ? { default: defaultsOf(properties) } : {}),
  });
  const mutable = schema as { required?: string[] };
  const required = (mutable.required ?? []).filter((name) => (properties[name] as { default?: unknown }).default === undefined);
  if (required.length > 0) mutable.required = required;
  else delete mutable.required;
  return schema;
}

interface ListOptions {
  readonly maxItems: number;
  readonly minItems?: number;
  /** `map` needs mapKeys; `set` is only for scalar items. */
  readonly listType?: 'atomic' | 'set' | 'map';
  readonly mapKeys?: readonly string[];
  readonly rules?: readonly CelRule[];
  readonly default?: readonly unknown[];
}

export function list<T extends TSchema>(description: string, items: T, options: ListOptions): TArray<T> {
  const { listType, mapKeys, rules, ...rest } = options;
  return Type.Array(items, {
    description,
    ...rest,
    ...(listType ? { 'x-kubernetes-list-type': listType } : {}),
    ...(mapKeys ? { 'x-kubernetes-list-map-keys': [...mapKeys] } : {}),
    ...(rules && rules.length > 0 ? { 'x-kubernetes-validations': rules } : {}),
  });
}

/** A string-to-string map (`additionalProperties`), bounded in size. */
export function stringMap(
  description: string,
  options: { readonly maxProperties: number; readonly valueMaxLength: number },
): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({
    type: 'object',
    description,
    maxProperties: options.maxProperties,
    additionalProperties: { type: 'string', maxLength: options.valueMaxLength },
  });
}

export const optional = Type.Optional;
