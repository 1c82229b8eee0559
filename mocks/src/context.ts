/** What a mock kind's handler gets: its definition, time, its live behaviour and response helpers. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

import type { Clock, Timers } from '@jarvis/api';

import type { Behaviour, MockDef } from './spec.js';

export interface MockRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The path without the query string. */
  readonly path: string;
  /** The request body (empty when the kind does not read bodies). */
  readonly body: Buffer;
}

export interface MockContext {
  readonly def: MockDef;
  readonly clock: Clock;
  readonly timers: Timers;
  /** The current behaviour (it changes with `POST /__mock/config`). */
  behaviour(): Behaviour;
  /** Sends a whole response (adds `x-mock-name` and content-length) and counts its status. */
  send(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void;
  /** Sends JSON. */
  json(res: ServerResponse, status: number, value: unknown, headers?: OutgoingHttpHeaders): void;
  /** Counts the status of a response the handler writes itself (streams). */
  count(status: number): void;
  /** A number unique within this mock, for response ids. */
  nextId(): number;
}

export interface KindHandler {
  /** Whether the request body is read (up to the limit) before `handle`; otherwise it is discarded. */
  readonly readsBody: boolean;
  handle(ctx: MockContext, request: MockRequest): void;
}

/** An OpenAI-style error body, used by every kind for 4xx and injected 5xx. */
export function errorBody(status: number, message: string, type?: string): { error: { message: string; type: string; code: number } } {
  const t = type ?? (status === 429 ? 'rate_limit_exceeded' : status >= 500 ? 'server_error' : 'invalid_request_error');
  return { error: { message, type: t, code: status } };
}

/** The first value of a request header, if any. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Parses a JSON body; undefined when it is not valid JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
