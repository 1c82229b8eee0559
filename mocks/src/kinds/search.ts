/**
 * A retriever: `POST /api/v1/retrieve` with `{query, top_k}` → ranked results. The vector flavour
 * scores like cosine similarity, the keyword flavour like BM25. The `x-jarvis-features` request
 * header (feature toggles the gateway turned off or on) is echoed in the body and the response.
 */
import { createHash } from 'node:crypto';

import { type KindHandler, errorBody, header, isRecord, parseJson } from '../context.js';
import type { SearchFlavor } from '../spec.js';

export const RETRIEVE_PATH = '/api/v1/retrieve';
export const FEATURES_HEADER = 'x-jarvis-features';
const MAX_TOP_K = 100;

export interface RetrieveRequest {
  query: string;
  topK: number;
}

export function parseRetrieveRequest(value: unknown): RetrieveRequest | { message: string } {
  if (!isRecord(value)) return { message: 'the body must be a JSON object' };
  const { query } = value;
  const topK = value['top_k'] ?? value['topK'] ?? 5;
  if (typeof query !== 'string' || query.trim() === '' || query.length > 4096)
    return { message: 'query must be a non-empty string of at most 4096 characters' };
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > MAX_TOP_K) {
    return { message: `top_k must be an integer from 1 to ${MAX_TOP_K}` };
  }
  return { query, topK };
}

export function retrieve(
  name: string,
  flavor: SearchFlavor,
  request: RetrieveRequest,
): { id: string; score: number; text: string; source: string }[] {
  const digest = createHash('sha256').update(request.query).digest('hex').slice(0, 8);
  return Array.from({ length: request.topK }, (_, i) => ({
    id: `${flavor}-${digest}-${i + 1}`,
    score: flavor === 'vector' ? Math.round((0.97 - i * 0.03) * 1000) / 1000 : Math.round((14.2 - i * 0.9) * 100) / 100,
    text: `${flavor} result ${i + 1} for "${request.query.slice(0, 120)}"`,
    source: name,
  }));
}

export const searchKind = {
  readsBody: true,
  handle(ctx, { req, res, path, body }) {
    if (path !== RETRIEVE_PATH && !path.startsWith(`${RETRIEVE_PATH}/`)) {
      ctx.json(res, 404, errorBody(404, `no route ${path}; this mock serves POST ${RETRIEVE_PATH}`, 'not_found'));
      return;
    }
    if (req.method !== 'POST') {
      ctx.json(res, 405, errorBody(405, `${RETRIEVE_PATH} takes POST`), { allow: 'POST' });
      return;
    }
    const value = parseJson(body);
    const request = value === undefined ? { message: 'the body is not valid JSON' } : parseRetrieveRequest(value);
    if ('message' in request) {
      ctx.json(res, 400, errorBody(400, request.message));
      return;
    }
    const flavor = ctx.def.flavor ?? 'vector';
    const features = header(req, FEATURES_HEADER);
    ctx.json(
      res,
      200,
      {
        retriever: ctx.def.name,
        flavor,
        query: request.query,
        results: retrieve(ctx.def.name, flavor, request),
        features: features ?? null,
      },
      features === undefined ? {} : { [FEATURES_HEADER]: features },
    );
  },
} satisfies KindHandler;
