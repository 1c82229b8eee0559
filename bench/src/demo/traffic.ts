/**
 * The demo's traffic: a few tenants and users (one of them much busier than the rest) calling the
 * chat API, the LLM completions (some streamed) and the retriever through the gateway, as if from
 * behind a trusted proxy (x-forwarded-for, x-tenant-id, x-user-id).
 */
import type { Timers } from '@jarvis/api';
import { Pool } from 'undici';

import { type Outcome, rejectedLevel } from './summary.js';

export interface DemoClient {
  tenant: string;
  user: string;
  /** Client addresses the user's requests come from (an office behind NAT has several). */
  ips: readonly string[];
  /** Share of the traffic, relative to the others. */
  weight: number;
}

/** acme is an enterprise tenant, globex and initech are on the team plan, umbrella on the default; eve is the hot user. */
export const DEMO_CLIENTS: readonly DemoClient[] = [
  { tenant: 'acme', user: 'eve', ips: Array.from({ length: 12 }, (_, i) => `203.0.113.${20 + i}`), weight: 8 },
  { tenant: 'acme', user: 'alice', ips: ['203.0.113.10', '203.0.113.11'], weight: 2 },
  { tenant: 'globex', user: 'bob', ips: ['198.51.100.20', '198.51.100.21', '198.51.100.22'], weight: 2 },
  { tenant: 'initech', user: 'carol', ips: ['198.51.100.30', '198.51.100.31'], weight: 2 },
  { tenant: 'umbrella', user: 'dave', ips: ['192.0.2.40'], weight: 1 },
];

const PROMPTS = [
  'What is our refund policy?',
  'Summarise the Q3 incident report',
  'Translate "stability" to French',
  'Draft a status update',
];

export interface DemoRequest {
  route: 'chat' | 'completions' | 'retrieve';
  path: string;
  body: string;
  headers: Record<string, string>;
}

function pick<T extends { weight: number }>(items: readonly T[], r: number): T {
  const total = items.reduce((s, i) => s + i.weight, 0);
  let x = r * total;
  for (const item of items) {
    x -= item.weight;
    if (x < 0) return item;
  }
  return items[items.length - 1] as T;
}

/** One request of the mix: half chat, a quarter completions (a fifth of them streamed), a quarter retrieval. */
export function demoRequest(random: () => number): DemoRequest {
  const client = pick(DEMO_CLIENTS, random());
  const prompt = PROMPTS[Math.floor(random() * PROMPTS.length)] ?? PROMPTS[0] ?? '';
  const headers = {
    'content-type': 'application/json',
    'x-forwarded-for': client.ips[Math.floor(random() * client.ips.length)] ?? '192.0.2.1',
    'x-tenant-id': client.tenant,
    'x-user-id': client.user,
    'x-api-key-id': `key-${client.user}`,
  };
  const kind = random();
  if (kind < 0.5) return { route: 'chat', path: '/api/v1/chat', headers, body: JSON.stringify({ message: prompt }) };
  if (kind < 0.75) {
    const stream = random() < 0.2;
    return {
      route: 'completions',
      path: '/v1/chat/completions',
      headers,
      body: JSON.stringify({ model: 'gpt-4', stream, messages: [{ role: 'user', content: prompt }] }),
    };
  }
  return { route: 'retrieve', path: '/api/v1/retrieve', headers, body: JSON.stringify({ query: prompt, top_k: 3 }) };
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export interface TrafficOptions {
  gatewayUrl: string;
  /** Requests per second offered. */
  rate: number;
  timers: Timers;
  random?: () => number;
  /** Requests still waiting beyond this many are not sent (counted as skipped). */
  maxInFlight?: number;
  onOutcome(o: Outcome): void;
}

export interface Traffic {
  stop(): Promise<void>;
}

export function startTraffic(opts: TrafficOptions): Traffic {
  const random = opts.random ?? Math.random;
  const pool = new Pool(opts.gatewayUrl, { connections: 16, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const maxInFlight = opts.maxInFlight ?? 200;
  const TICK_MS = 100;
  let inFlight = 0;
  let credit = 0;
  let stopped = false;
  let timer: { cancel(): void } | undefined;

  const send = async (r: DemoRequest): Promise<void> => {
    inFlight++;
    try {
      const res = await pool.request({ path: r.path, method: 'POST', headers: r.headers, body: r.body });
      const text = res.statusCode === 429 ? await res.body.text() : (await res.body.dump({ limit: 1 << 20 }), '');
      const servedBy = first(res.headers['x-mock-name']);
      const features = first(res.headers['x-jarvis-features']);
      opts.onOutcome({
        route: r.route,
        status: res.statusCode,
        // A 429 the upstream sent itself (a mock injecting errors) names no limit of ours.
        ...(res.statusCode === 429
          ? { level: servedBy !== undefined ? `upstream ${servedBy}` : rejectedLevel(text, first(res.headers['ratelimit'])) }
          : {}),
        ...(servedBy !== undefined ? { servedBy } : {}),
        ...(features !== undefined ? { features } : {}),
      });
    } catch {
      if (!stopped) opts.onOutcome({ route: r.route, status: 0 });
    } finally {
      inFlight--;
    }
  };

  const tick = (): void => {
    if (stopped) return;
    credit += (opts.rate * TICK_MS) / 1000;
    while (credit >= 1) {
      credit--;
      if (inFlight < maxInFlight) void send(demoRequest(random));
    }
    timer = opts.timers.after(TICK_MS, tick);
  };
  tick();

  return {
    async stop() {
      stopped = true;
      timer?.cancel();
      await pool.destroy();
    },
  };
}
