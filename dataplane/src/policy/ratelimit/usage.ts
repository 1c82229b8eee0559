/**
 * Reads the token `usage` an LLM answer reports, as the answer streams by, in bounded memory:
 *
 * - `text/event-stream` (OpenAI's `stream_options.include_usage`): the stream is scanned line by
 *   line as chunks arrive, split anywhere; only the current line is kept (at most
 *   MAX_SSE_LINE_BYTES; a longer line is skipped), and only a `data:` line whose JSON has a
 *   `"usage"` object is parsed. The last such line wins (the usage chunk comes before `[DONE]`).
 * - anything else (a JSON answer): the body is kept while it is at most MAX_JSON_BYTES and parsed
 *   once at the end; a larger body is not parsed (no usage).
 *
 * Usage fields: `prompt_tokens`/`completion_tokens`/`total_tokens` (chat completions), or
 * `input_tokens`/`output_tokens` (the Responses API); each a non-negative integer of at most
 * MAX_TOKENS. A compressed answer (content-encoding other than identity) is not read.
 */
import type { LlmUsage } from './types.js';

export const MAX_SSE_LINE_BYTES = 64 * 1024;
export const MAX_JSON_BYTES = 1024 * 1024;
/** Larger token counts are not believed. */
export const MAX_TOKENS = 1_000_000_000;

const NEWLINE = 0x0a;
const USAGE = Buffer.from('"usage"');

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_TOKENS ? v : undefined;
}

/** The usage of a parsed answer or chunk, when it has a valid one. */
export function usageOf(json: unknown): LlmUsage | undefined {
  if (!isRecord(json)) return undefined;
  let u = json['usage'];
  // The Responses API's stream puts it in the completed response.
  if (!isRecord(u) && isRecord(json['response'])) u = json['response']['usage'];
  if (!isRecord(u)) return undefined;
  const input = count(u['prompt_tokens'] ?? u['input_tokens']);
  const output = count(u['completion_tokens'] ?? u['output_tokens']);
  if (input === undefined || output === undefined) return undefined;
  const total = count(u['total_tokens']) ?? input + output;
  return { input, output, total };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Scans an SSE stream for the chunk that carries usage. */
export class SseUsageScanner {
  /** The current line's start, when it began in an earlier chunk. */
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** The current line is over MAX_SSE_LINE_BYTES: skipped up to its end. */
  #skipping = false;
  #usage: LlmUsage | undefined = undefined;

  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      if (this.#skipping) this.#skipping = false;
      else if (this.#partBytes === 0) this.#line(chunk.subarray(start, nl));
      else if (this.#partBytes + (nl - start) <= MAX_SSE_LINE_BYTES) {
        this.#parts.push(chunk.subarray(start, nl));
        this.#line(Buffer.concat(this.#parts));
      }
      this.#parts = [];
      this.#partBytes = 0;
      start = nl + 1;
    }
    if (start >= chunk.length || this.#skipping) return;
    const rest = chunk.length - start;
    if (this.#partBytes + rest > MAX_SSE_LINE_BYTES) {
      this.#parts = [];
      this.#partBytes = 0;
      this.#skipping = true;
      return;
    }
    // A copy: the caller may reuse its buffer.
    this.#parts.push(Buffer.from(chunk.subarray(start)));
    this.#partBytes += rest;
  }

  #line(line: Buffer): void {
    if (line.length > MAX_SSE_LINE_BYTES) return;
    // `data:` lines only; only those mentioning usage are decoded.
    if (line.length < 6 || line[0] !== 0x64 || line.toString('latin1', 0, 5) !== 'data:') return;
    if (line.indexOf(USAGE) < 0) return;
    const u = usageOf(parse(line.toString('utf8', 5).trim()));
    if (u) this.#usage = u;
  }

  usage(): LlmUsage | undefined {
    return this.#usage;
  }
}

/** Keeps a JSON answer up to MAX_JSON_BYTES and reads its usage at the end. */
export class JsonUsageReader {
  #parts: Buffer[] = [];
  #bytes = 0;
  #over = false;

  constructor(private readonly maxBytes = MAX_JSON_BYTES) {}

  push(chunk: Buffer): void {
    if (this.#over) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes) {
      this.#over = true;
      this.#parts = [];
      return;
    }
    this.#parts.push(Buffer.from(chunk));
  }

  usage(): LlmUsage | undefined {
    if (this.#over || this.#bytes === 0) return undefined;
    return usageOf(parse(Buffer.concat(this.#parts, this.#bytes).toString('utf8')));
  }
}

/** Picks the reader for an answer from its headers; undefined: the answer cannot be read. */
export function usageReader(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): SseUsageScanner | JsonUsageReader | undefined {
  const enc = headers['content-encoding'];
  if (enc !== undefined && String(enc).trim().toLowerCase() !== 'identity') return undefined;
  const type = String(headers['content-type'] ?? '').toLowerCase();
  return type.startsWith('text/event-stream') ? new SseUsageScanner() : new JsonUsageReader();
}
