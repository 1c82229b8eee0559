/** Field errors in the apiserver's terms: a field path like `spec.limits[0].burst`, a type, a detail. */

export type FieldErrorType =
  'Required value' | 'Invalid value' | 'Unsupported value' | 'Duplicate value' | 'Too many' | 'Too long' | 'Forbidden' | 'Unknown field';

export interface FieldError {
  /** Path of the field, e.g. `spec.limits[0].burst`; `metadata.name`; `kind`. */
  readonly path: string;
  readonly type: FieldErrorType;
  /** What is wrong, without the path: e.g. `Invalid value: 5: burst must be greater than or equal to rate.requests`. */
  readonly message: string;
}

/** `<path>: <message>`, the way kubectl prints an apiserver rejection. */
export function formatFieldError(e: FieldError): string {
  return `${e.path}: ${e.message}`;
}

/** A value the way the apiserver quotes it in a message. */
export function quote(value: unknown): string {
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? '"array"' : '"object"';
  return JSON.stringify(value) ?? 'null';
}

/** `true` when `path` is `root` or inside it. */
export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}.`) || path.startsWith(`${root}[`);
}

/**
 * Whether the apiserver skips every CEL rule of an object because of this error: it does so when
 * the OpenAPI validation found a wrong type, a missing required field, a value outside an enum,
 * or a string or list over its maximum (apiextensions-apiserver's `hasBlockingErr`), and then
 * reports NOT_CHECKED instead. A wrong type is an `Invalid value` saying "must be of type".
 */
export function blocksCel(e: FieldError): boolean {
  switch (e.type) {
    case 'Unsupported value':
    case 'Required value':
    case 'Too long':
    case 'Too many':
      return true;
    case 'Invalid value':
      return /^Invalid value: [^:]*: must be of type /.test(e.message);
    default:
      return false;
  }
}

/** The apiserver's error in place of the CEL rules it did not check (path `<nil>`). */
export const NOT_CHECKED: FieldError = {
  path: '',
  type: 'Invalid value',
  message:
    'Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
};
