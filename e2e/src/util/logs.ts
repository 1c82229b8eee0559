/** Reading what the binaries print: JSON log lines, and whether a stack trace slipped in. */

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** The JSON log lines of an output; lines that are not one of ours come back as `{ level: 'raw' }`. */
export function logLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line): LogLine => {
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null && 'level' in parsed && 'msg' in parsed) {
          const { level, msg } = parsed as { level: unknown; msg: unknown };
          if (typeof level === 'string' && typeof msg === 'string') return { ...(parsed as Record<string, unknown>), level, msg };
        }
      } catch {
        // not JSON
      }
      return { level: 'raw', msg: line };
    });
}

/** A V8 stack frame (`    at fn (file:1:2)`), raw or inside a JSON string, or Node's uncaught-error banner. */
export function hasStackTrace(text: string): boolean {
  return /(^|\\n|\n)\s*at .+:\d+:\d+\)?/m.test(text) || /node:internal|triggerUncaughtException/.test(text);
}
