/**
 * The inspect stage, on routes whose policies need what is inside the body (a hot Model or
 * PromptHash, a level costed in LLM tokens): the body is read first (up to the bound; larger:
 * 413), parsed when it is JSON (malformed: 400) and forwarded as read. Other routes stream bodies
 * through untouched and have no such stage.
 *
 * A route whose CachePolicy keys on the body reads the bodies of the methods it caches too, for
 * the key: a JSON body is parsed (`x.bodyJson`) but not judged — malformed JSON is forwarded as
 * it came and keyed by its bytes — and a body declared larger than the bound is streamed
 * untouched and not cached (one that turns out larger while read gets 413, as above).
 */
import type { RouteIR } from '@jarvis/api';
import { sendProblem } from '../observe/problem.js';
import type { StageContext } from '../pipeline/context.js';
import type { Exchange } from '../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type StageFactory, type Verdict } from '../pipeline/stage.js';
import { readBody, type BodyRead } from './body.js';
import { llmFacts } from './llm.js';

/** application/json and the +json types (RFC 6839). */
function isJson(x: Exchange): boolean {
  const type = (x.req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

/** Whether a route's rate limits look inside bodies (LLM facts). */
function inspectsLlm(route: RouteIR): boolean {
  const hot = route.rateLimit?.hotspot?.parameters ?? [];
  return (
    hot.some((p) => p.source === 'Model' || p.source === 'PromptHash') ||
    (route.rateLimit?.levels.some((l) => l.cost.type === 'LlmTokens') ?? false)
  );
}

/** The methods whose bodies the route's CachePolicy keys on, if any. */
function cacheBodyMethods(route: RouteIR): ReadonlySet<string> | undefined {
  const c = route.cache;
  return c?.key.body ? new Set<string>(c.methods) : undefined;
}

/** Whether a route's policies look inside bodies. */
export function inspectsBody(route: RouteIR): boolean {
  return inspectsLlm(route) || cacheBodyMethods(route) !== undefined;
}

export class InspectStage implements Stage {
  readonly name = 'inspect';
  /**
   * @param llm the rate limits need the LLM facts (every body is read; malformed JSON: 400)
   * @param cacheMethods otherwise, the methods whose bodies are read for the cache key
   */
  constructor(
    private readonly limit: number,
    private readonly llm = true,
    private readonly cacheMethods: ReadonlySet<string> = new Set(),
  ) {}

  enter(x: Exchange): Verdict | Promise<Verdict> {
    if (!x.hasBody) return CONTINUE;
    if (!this.llm) {
      if (!this.cacheMethods.has(x.method)) return CONTINUE;
      // Too large to key: streamed untouched, and the cache passes it by.
      if (Number(x.req.headers['content-length'] ?? 0) > this.limit) return CONTINUE;
    }
    return readBody(x.req, this.limit).then((read) => this.#inspected(x, read));
  }

  #inspected(x: Exchange, read: BodyRead): Verdict {
    if (!read.ok) {
      if (read.reason === 'aborted') {
        x.status = 499;
        x.error = 'client-gone';
        return ANSWERED;
      }
      x.status = 413;
      x.error = 'body-too-large';
      sendProblem(x.res, 413, 'body-too-large', 'Request body too large', `This route reads bodies of at most ${this.limit} bytes.`);
      return ANSWERED;
    }
    x.body = read.body;
    if (isJson(x)) {
      let json: unknown;
      try {
        json = JSON.parse(read.body.toString('utf8'));
      } catch (err) {
        if (!this.llm) return CONTINUE;
        const why = err instanceof Error ? err.message.slice(0, 200) : 'not JSON';
        x.status = 400;
        sendProblem(x.res, 400, 'malformed-json', 'Malformed JSON body', `The request body is not valid JSON: ${why}`);
        return ANSWERED;
      }
      x.bodyJson = json;
      if (this.llm) {
        x.llm = llmFacts(json);
        x.llmTokens = { input: x.llm.inputTokens, output: x.llm.outputTokens };
      }
    }
    return CONTINUE;
  }
}

export const inspectStage: StageFactory<StageContext> = {
  name: 'inspect',
  features: [],
  build(route, ctx) {
    const llm = inspectsLlm(route);
    const cacheMethods = cacheBodyMethods(route);
    if (!llm && cacheMethods === undefined) return undefined;
    return new InspectStage(ctx.inspectBodyBytes, llm, cacheMethods);
  },
};
