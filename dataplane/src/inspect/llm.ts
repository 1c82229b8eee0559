/**
 * What the policies may want to know about an OpenAI-compatible request body (chat completions,
 * completions, embeddings, responses): the model, a hash of the prompt, and a token estimate.
 * Pure: takes the parsed JSON, never throws, bounds everything it keeps.
 *
 * Tokens are estimated at 4 characters (UTF-16 code units) per token of prompt text, rounded up
 * — the usual rule of thumb for English text with BPE tokenizers; the output estimate is the
 * request's own ceiling (`max_completion_tokens`, `max_tokens` or `max_output_tokens`).
 */
import { createHash } from 'node:crypto';

export interface LlmFacts {
  /** The `model` field, when it is a string of 1–256 characters. */
  readonly model: string | undefined;
  /** sha256 of the prompt text (base64url, 22 characters), when there is prompt text. */
  readonly promptHash: string | undefined;
  readonly inputTokens: number;
  /** The request's output ceiling; 0 when it sets none. */
  readonly outputTokens: number;
}

const CHARS_PER_TOKEN = 4;
const MAX_MODEL_LENGTH = 256;
/** Most text parts collected from one body; parts beyond are not walked (they do not count). */
const MAX_WALK_PARTS = 10_000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The prompt's text parts: messages[].content (string or text parts), prompt, input, instructions. */
function promptParts(body: Record<string, unknown>): string[] {
  const parts: string[] = [];
  const text = (v: unknown): void => {
    if (parts.length >= MAX_WALK_PARTS) return;
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) for (const x of v) text(x);
    else if (isRecord(v)) {
      if (typeof v['text'] === 'string') parts.push(v['text']);
      else if ('content' in v) text(v['content']);
    }
  };
  if (typeof body['instructions'] === 'string') parts.push(body['instructions']);
  if (Array.isArray(body['messages'])) for (const m of body['messages']) if (isRecord(m)) text(m['content']);
  text(body['prompt']);
  text(body['input']);
  return parts;
}

function ceiling(body: Record<string, unknown>): number {
  for (const k of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) {
    const v = body[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.min(Math.floor(v), 10_000_000);
  }
  return 0;
}

export function llmFacts(json: unknown): LlmFacts {
  if (!isRecord(json)) return { model: undefined, promptHash: undefined, inputTokens: 0, outputTokens: 0 };
  const m = json['model'];
  const model = typeof m === 'string' && m.length > 0 && m.length <= MAX_MODEL_LENGTH ? m : undefined;
  const parts = promptParts(json);
  let chars = 0;
  let promptHash: string | undefined;
  if (parts.length > 0) {
    const h = createHash('sha256');
    for (const p of parts) {
      chars += p.length;
      h.update(p, 'utf8').update('\u0000');
    }
    promptHash = h.digest('base64url').slice(0, 22);
  }
  return { model, promptHash, inputTokens: Math.ceil(chars / CHARS_PER_TOKEN), outputTokens: ceiling(json) };
}
