import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

import yaml from 'js-yaml';

import { getArray, getRecord, getString, isRecord } from '../util/guards.js';

/** Where and how to reach an API server with a client certificate. */
export interface ApiEndpoint {
  /** https://127.0.0.1:PORT */
  server: string;
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

export interface ApiResponse {
  status: number;
  /** Parsed body when it is JSON, otherwise undefined. */
  json: unknown;
  text: string;
}

export interface RequestOptions {
  timeoutMs?: number;
  /** Content type of `body` (default application/json; merge-patch for PATCH). */
  contentType?: string;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * One HTTPS request to the API server, authenticated with the admin client certificate.
 * `body` is sent as JSON (strings are sent verbatim). Never throws on HTTP status codes; throws
 * on transport errors and timeouts.
 */
export function request(cp: ApiEndpoint, method: string, apiPath: string, body?: unknown, opts: RequestOptions = {}): Promise<ApiResponse> {
  const url = new URL(apiPath, cp.server);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const contentType = opts.contentType ?? (method.toUpperCase() === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise<ApiResponse>((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: method.toUpperCase(),
        ca: cp.caPem,
        cert: cp.clientCertPem,
        key: cp.clientKeyPem,
        agent: false,
        headers: {
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, json: parseJson(text), text });
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url.href} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Plain-HTTP GET (etcd's /health); resolves the status code, rejects on transport errors. */
export function httpGetStatus(url: string, timeoutMs = 2_000): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

const CONTEXT = 'envtest';

/** The admin kubeconfig of a control plane, as YAML. */
export function kubeconfigYaml(endpoint: ApiEndpoint): string {
  const b64 = (pem: string): string => Buffer.from(pem, 'utf8').toString('base64');
  return yaml.dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CONTEXT, cluster: { server: endpoint.server, 'certificate-authority-data': b64(endpoint.caPem) } }],
    users: [
      {
        name: `${CONTEXT}-admin`,
        user: {
          'client-certificate-data': b64(endpoint.clientCertPem),
          'client-key-data': b64(endpoint.clientKeyPem),
        },
      },
    ],
    contexts: [{ name: CONTEXT, context: { cluster: CONTEXT, user: `${CONTEXT}-admin`, namespace: 'default' } }],
    'current-context': CONTEXT,
    preferences: {},
  });
}

export async function writeKubeconfig(file: string, endpoint: ApiEndpoint): Promise<void> {
  await writeFile(file, kubeconfigYaml(endpoint), { mode: 0o600 });
}

function named(list: unknown[], name: string, key: string): Record<string, unknown> | undefined {
  const entry = list.find((e) => getString(e, 'name') === name);
  return getRecord(entry, key);
}

async function pemFrom(section: Record<string, unknown>, dataKey: string, fileKey: string, baseDir: string): Promise<string | undefined> {
  const data = getString(section, dataKey);
  if (data) return Buffer.from(data, 'base64').toString('utf8');
  const file = getString(section, fileKey);
  if (file) return readFile(path.resolve(baseDir, file), 'utf8');
  return undefined;
}

/**
 * The endpoint of a kubeconfig's current context when it authenticates with a client
 * certificate (ours do); undefined for other kinds of credentials (tokens, exec plugins…).
 */
export async function endpointFromKubeconfig(file: string): Promise<ApiEndpoint | undefined> {
  const doc: unknown = yaml.load(await readFile(file, 'utf8'));
  if (!isRecord(doc)) return undefined;
  const current = getString(doc, 'current-context');
  if (!current) return undefined;
  const context = named(getArray(doc, 'contexts'), current, 'context');
  const clusterName = getString(context, 'cluster');
  const userName = getString(context, 'user');
  if (!clusterName || !userName) return undefined;
  const cluster = named(getArray(doc, 'clusters'), clusterName, 'cluster');
  const user = named(getArray(doc, 'users'), userName, 'user');
  const server = getString(cluster, 'server');
  if (!cluster || !user || !server?.startsWith('https://')) return undefined;
  const baseDir = path.dirname(path.resolve(file));
  const [caPem, clientCertPem, clientKeyPem] = await Promise.all([
    pemFrom(cluster, 'certificate-authority-data', 'certificate-authority', baseDir),
    pemFrom(user, 'client-certificate-data', 'client-certificate', baseDir),
    pemFrom(user, 'client-key-data', 'client-key', baseDir),
  ]);
  if (!caPem || !clientCertPem || !clientKeyPem) return undefined;
  return { server, caPem, clientCertPem, clientKeyPem };
}

/** GET /healthz answers 200 ("ok"). Never throws. */
export async function isApiHealthy(endpoint: ApiEndpoint, timeoutMs = 3_000): Promise<boolean> {
  try {
    const res = await request(endpoint, 'GET', '/healthz', undefined, { timeoutMs });
    return res.status === 200;
  } catch {
    return false;
  }
}
