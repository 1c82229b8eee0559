/**
 * Tenant and user values become limiter keys, metric top-K entries and upstream headers, so they
 * are checked wherever they come from (JWT claims, the API key file, trusted headers): bounded
 * length, Unicode NFC (so `é` and `e\u0301` are one tenant), and no control, format (bidi
 * overrides, zero-width characters) or lone surrogate code points — those make values that look
 * identical but count apart, or break logs and headers.
 */

/** Why a value was refused. */
export interface IdError {
  readonly error: string;
}

// Cc (controls), Cf (format: bidi, zero-width, BOM, tags), Cs (lone surrogates), line/paragraph separators.
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

/** Returns the normalized value, or why it is refused. */
export function checkId(raw: string, maxLength: number): string | IdError {
  if (raw.length === 0) return { error: 'is empty' };
  if (isPrintableAscii(raw)) {
    return raw.length > maxLength ? { error: `is longer than ${maxLength} characters` } : raw;
  }
  // Normalization can grow a string a few times over; refuse absurd input before doing it.
  if (raw.length > maxLength * 4) return { error: `is longer than ${maxLength} characters` };
  const bad = FORBIDDEN.exec(raw);
  if (bad) {
    const cp = bad[0].codePointAt(0) ?? 0;
    return { error: `contains the control or invisible character U+${cp.toString(16).toUpperCase().padStart(4, '0')}` };
  }
  const value = raw.normalize('NFC');
  if (value.length > maxLength) return { error: `is longer than ${maxLength} characters` };
  return value;
}

export function isIdError(v: string | IdError): v is IdError {
  return typeof v !== 'string';
}

function isPrintableAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}
