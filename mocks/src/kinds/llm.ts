/**
 * An OpenAI-compatible LLM tier: `POST /v1/chat/completions` validates the body, echoes `model`,
 * counts usage tokens, and with `stream: true` answers with SSE chunks ending in `data: [DONE]`.
 */
import type { ServerResponse } from 'node:http';

import { type KindHandler, type MockContext, errorBody, isRecord, parseJson } from '../context.js';

export const COMPLETIONS_PATH = '/v1/chat/completions';

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

export interface CompletionRequest {
  model: string;
  /** Text of every message, in order. */
  texts: string[];
  /** Text of the last user message. */
  lastUser: string;
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
}

/** Text of a message's content: a string, or a list of parts of which the text parts count. */
function contentText(content: unknown): string | undefined {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  let text = '';
  for (const part of content) {
    if (!isRecord(part) || typeof part['type'] !== 'string') return undefined;
    if (part['type'] === 'text' && typeof part['text'] === 'string') text += part['text'];
  }
  return text;
}

/** Validates a chat-completions body; returns the request or the problem (with the OpenAI `param`). */
export function parseCompletionRequest(value: unknown): CompletionRequest | { param: string; message: string } {
  if (!isRecord(value)) return { param: '', message: 'the body must be a JSON object' };
  const { model, messages, stream, max_tokens: maxTokens, max_completion_tokens: maxCompletion, stream_options: streamOptions } = value;
  if (typeof model !== 'string' || model.length === 0 || model.length > 256) {
    return { param: 'model', message: 'model must be a non-empty string' };
  }
  if (!Array.isArray(messages) || messages.length === 0) return { param: 'messages', message: 'messages must be a non-empty list' };
  const texts: string[] = [];
  let lastUser = '';
  for (const [i, m] of messages.entries()) {
    if (!isRecord(m) || typeof m['role'] !== 'string' || !ROLES.has(m['role'])) {
      return { param: `messages[${i}].role`, message: `role must be one of ${[...ROLES].join(', ')}` };
    }
    const text = contentText(m['content']);
    if (text === undefined) return { param: `messages[${i}].content`, message: 'content must be a string or a list of content parts' };
    texts.push(text);
    if (m['role'] === 'user') lastUser = text;
  }
  if (stream !== undefined && typeof stream !== 'boolean') return { param: 'stream', message: 'stream must be a boolean' };
  const limit = maxCompletion ?? maxTokens;
  if (limit !== undefined && limit !== null && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1)) {
    return { param: maxCompletion !== undefined ? 'max_completion_tokens' : 'max_tokens', message: 'must be a positive integer' };
  }
  if (streamOptions !== undefined && streamOptions !== null && !isRecord(streamOptions)) {
    return { param: 'stream_options', message: 'stream_options must be an object' };
  }
  return {
    model,
    texts,
    lastUser,
    stream: stream === true,
    includeUsage: isRecord(streamOptions) && streamOptions['include_usage'] === true,
    maxTokens: typeof limit === 'number' ? limit : undefined,
  };
}

/** A rough token count (about four characters a token), at least one for non-empty text. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}

interface Completion {
  pieces: string[];
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
}

/** The answer: one piece per word (what a stream sends one chunk each), cut at the token limit. */
function complete(name: string, request: CompletionRequest): Completion {
  const quote = request.lastUser.length > 80 ? `${request.lastUser.slice(0, 77)}...` : request.lastUser;
  const words = `Hello from ${name} (${request.model}). You said: "${quote}"`.split(' ');
  const pieces = words.map((w, i) => (i === 0 ? w : ` ${w}`));
  let finishReason: Completion['finishReason'] = 'stop';
  if (request.maxTokens !== undefined && pieces.length > request.maxTokens) {
    pieces.length = request.maxTokens;
    finishReason = 'length';
  }
  const promptTokens = request.texts.reduce((sum, t) => sum + estimateTokens(t) + 3, 0);
  return { pieces, finishReason, promptTokens, completionTokens: pieces.length };
}

function usage(c: Completion): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: c.promptTokens, completion_tokens: c.completionTokens, total_tokens: c.promptTokens + c.completionTokens };
}

function stream(ctx: MockContext, res: ServerResponse, id: string, created: number, request: CompletionRequest, c: Completion): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-mock-name': ctx.def.name,
  });
  ctx.count(200);
  const chunk = (delta: Record<string, string>, finish: string | null): string =>
    `data: ${JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created,
      model: request.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    })}\n\n`;
  const events = [
    chunk({ role: 'assistant', content: '' }, null),
    ...c.pieces.map((p) => chunk({ content: p }, null)),
    chunk({}, c.finishReason),
  ];
  if (request.includeUsage) {
    events.push(
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: request.model, choices: [], usage: usage(c) })}\n\n`,
    );
  }
  events.push('data: [DONE]\n\n');
  let next = 0;
  let closed = false;
  res.once('close', () => {
    closed = true;
  });
  const pump = (): void => {
    while (!closed && next < events.length) {
      res.write(events[next++]);
      const delay = ctx.behaviour().streamChunkDelayMs;
      if (delay > 0 && next < events.length) {
        ctx.timers.after(delay, pump);
        return;
      }
    }
    if (!closed) res.end();
  };
  pump();
}

export const llmKind = {
  readsBody: true,
  handle(ctx, { req, res, path, body }) {
    if (path !== COMPLETIONS_PATH) {
      ctx.json(res, 404, errorBody(404, `no route ${path}; this mock serves POST ${COMPLETIONS_PATH}`, 'not_found'));
      return;
    }
    if (req.method !== 'POST') {
      ctx.json(res, 405, errorBody(405, `${COMPLETIONS_PATH} takes POST`), { allow: 'POST' });
      return;
    }
    const value = parseJson(body);
    if (value === undefined) {
      ctx.json(res, 400, errorBody(400, 'the body is not valid JSON'));
      return;
    }
    const request = parseCompletionRequest(value);
    if ('param' in request) {
      ctx.json(res, 400, { error: { ...errorBody(400, request.message).error, param: request.param } });
      return;
    }
    const id = `chatcmpl-${ctx.def.name}-${ctx.nextId()}`;
    const created = Math.floor(ctx.clock.now() / 1000);
    const c = complete(ctx.def.name, request);
    if (request.stream) {
      stream(ctx, res, id, created, request, c);
      return;
    }
    ctx.json(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model: request.model,
      choices: [{ index: 0, message: { role: 'assistant', content: c.pieces.join('') }, finish_reason: c.finishReason }],
      usage: usage(c),
    });
  },
} satisfies KindHandler;
