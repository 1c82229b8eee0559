/**
 * The body stages. Every request body up to `--request-buffer-bytes` is read into memory before
 * the request goes upstream (`buffer`, after the rate limit: a refused request's body is never
 * read), so a client that trickles its body never holds an upstream connection; larger bodies
 * stream. Routes whose policies look inside bodies (a hot Model or PromptHash, a level costed in
 * LLM tokens, keyed by or conditioned on the model) read it earlier (`inspect`, before the hot keys and the levels that need it), up to
 * `--inspect-body-bytes`, and parse it as OpenAI-compatible JSON whatever the Content-Type claims
 * (the upstream will): nested deeper than the bound → 400, not JSON → 400 or 415. Every buffered
 * byte counts against `--max-buffered-bytes` until the exchange ends (full: 503 with Retry-After);
 * a body that does not arrive within `--request-body-timeout` gets 408.
 */
import type { RouteIR } from '@jarvis/api';
import type { Timers } from '../clock.js';
import { sendProblem } from '../observe/problem.js';
import { levelNeedsBody } from '../policy/ratelimit/conditions.js';
import type { StageContext } from '../pipeline/context.js';
import type { Exchange } from '../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type StageFactory, type Verdict } from '../pipeline/stage.js';
import { readBody, type BodyRead } from './body.js';
import type { BodyBudget } from './budget.js';
import { parseJsonBounded } from './json.js';
import { llmFacts } from './llm.js';

export interface BodySettings {
  /** Bodies up to this are read before the request goes upstream; larger ones stream. */
  readonly bufferBytes: number;
  /** Most bytes read on a route that inspects bodies; larger: 413. */
  readonly inspectBytes: number;
  /** A buffered body must arrive within this (ms). */
  readonly timeoutMs: number;
  readonly budget: BodyBudget;
  readonly timers: Timers;
}

/** Whether a route's policies look inside bodies. */
export function inspectsBody(route: RouteIR): boolean {
  const hot = route.rateLimit?.hotspot?.parameters ?? [];
  return hot.some((p) => p.source === 'Model' || p.source === 'PromptHash') || (route.rateLimit?.levels.some(levelNeedsBody) ?? false);
}

/** application/json and the +json types (RFC 6839). */
function claimsJson(x: Exchange): boolean {
  const type = (x.req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

export class BodyStage implements Stage {
  constructor(
    readonly name: 'inspect' | 'buffer',
    private readonly s: BodySettings,
  ) {}

  enter(x: Exchange): Verdict | Promise<Verdict> {
    if (!x.hasBody || x.body !== undefined) return CONTINUE;
    const inspect = this.name === 'inspect';
    const declared = Number(x.req.headers['content-length'] ?? 0);
    // A declared body over the buffer streams on (the proxy stage bounds it by --max-body-bytes).
    if (!inspect && declared > this.s.bufferBytes) return CONTINUE;
    x.expectContinue();
    return readBody(x.req, {
      limit: inspect ? this.s.inspectBytes : this.s.bufferBytes,
      overflow: inspect ? 'refuse' : 'stream',
      timeoutMs: this.s.timeoutMs,
      timers: this.s.timers,
      budget: this.s.budget,
    }).then((read) => this.#read(x, read));
  }

  leave(x: Exchange): void {
    if (x.bodyReserved > 0) {
      this.s.budget.release(x.bodyReserved);
      x.bodyReserved = 0;
    }
  }

  #read(x: Exchange, read: BodyRead): Verdict {
    x.bodyReserved += read.reserved;
    if (read.ok === 'partial') {
      x.bodyPrefix = read.prefix;
      return CONTINUE;
    }
    if (read.ok === false) return this.#refuse(x, read.reason);
    x.body = read.body;
    return this.name === 'inspect' ? this.#inspect(x, read.body) : CONTINUE;
  }

  #refuse(x: Exchange, reason: 'too-large' | 'aborted' | 'timeout' | 'busy'): Verdict {
    const { res } = x;
    switch (reason) {
      case 'aborted':
        x.status = 499;
        x.error = 'client-gone';
        return ANSWERED;
      case 'too-large':
        x.status = 413;
        x.error = 'body-too-large';
        sendProblem(
          res,
          413,
          'body-too-large',
          'Request body too large',
          `This route reads bodies of at most ${this.s.inspectBytes} bytes.`,
        );
        return ANSWERED;
      case 'timeout':
        x.status = 408;
        x.error = 'client-slow';
        sendProblem(
          res,
          408,
          'request-timeout',
          'Request body too slow',
          `The request body did not arrive within ${this.s.timeoutMs} ms.`,
          undefined,
          { connection: 'close' },
        );
        return ANSWERED;
      case 'busy':
        x.status = 503;
        x.error = 'overloaded';
        sendProblem(
          res,
          503,
          'gateway-busy',
          'Gateway busy',
          'The gateway holds as many request bodies as it may; try again shortly.',
          undefined,
          { 'retry-after': '1', connection: 'close' },
        );
        return ANSWERED;
    }
  }

  /** The LLM facts of the body; it must be JSON, whatever its Content-Type says. */
  #inspect(x: Exchange, body: Buffer): Verdict {
    const parsed = parseJsonBounded(body);
    if (!parsed.ok) {
      x.status = claimsJson(x) ? 400 : 415;
      if (x.status === 400)
        sendProblem(x.res, 400, 'malformed-json', 'Malformed JSON body', `The request body is not valid JSON: ${parsed.why}`);
      else
        sendProblem(
          x.res,
          415,
          'unsupported-media-type',
          'JSON body required',
          `This route reads OpenAI-compatible JSON bodies; this one is not JSON (${parsed.why}).`,
        );
      return ANSWERED;
    }
    x.bodyJson = parsed.value;
    x.llm = llmFacts(parsed.value);
    x.llmTokens = { input: x.llm.inputTokens, output: x.llm.outputTokens };
    return CONTINUE;
  }
}

/** Reads and parses the body early on routes whose policies look inside it. */
export const inspectStage: StageFactory<StageContext> = {
  name: 'inspect',
  features: [],
  build: (route, ctx) => (inspectsBody(route) ? new BodyStage('inspect', ctx.body) : undefined),
};

/** Reads every other body (up to the buffer size) once the limits have admitted the request. */
export const bufferStage: StageFactory<StageContext> = {
  name: 'buffer',
  features: [],
  build: (route, ctx) => (inspectsBody(route) ? undefined : new BodyStage('buffer', ctx.body)),
};
