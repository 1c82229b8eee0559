/**
 * A small JSON client for the Kubernetes API. @kubernetes/client-node loads the kubeconfig (or the
 * in-cluster config) and supplies TLS and credentials; requests are plain JSON over node:https so
 * that every stage handles the objects exactly as the apiserver sends them.
 */
import { existsSync } from 'node:fs';
import https from 'node:https';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { StartupError, startupFileError } from '@jarvis/api';

export interface KubeResponse {
  readonly status: number;
  readonly body: unknown;
}

export class KubeError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export interface KubeClient {
  request(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, contentType?: string): Promise<KubeResponse>;
  /** Starts a watch; returns a function that stops it. `done` is called once when the watch ends. */
  watch(
    path: string,
    query: Record<string, string | number | boolean>,
    onEvent: (type: string, object: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<() => void>;
  /** Counts requests by verb, for the requests-per-minute figure. */
  readonly counters: Map<string, number>;
}

const REQUEST_TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The kubeconfig to use: the file given (--kubeconfig or $KUBECONFIG), else the pod's service
 * account when running in a cluster. Whatever keeps it from being usable is a StartupError that
 * says what to do.
 */
export function loadKubeConfig(
  kubeconfig: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) {
    if (!existsSync(kubeconfig)) throw new StartupError(`kubeconfig ${kubeconfig} (from --kubeconfig or $KUBECONFIG): no such file`);
    try {
      kc.loadFromFile(kubeconfig);
    } catch (err) {
      if (typeof err === 'object' && err !== null && 'code' in err) throw startupFileError('--kubeconfig', kubeconfig, err);
      throw new StartupError(
        `kubeconfig ${kubeconfig} is not a usable kubeconfig: ${(err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''}`,
      );
    }
  } else {
    if (!env['KUBERNETES_SERVICE_HOST'])
      throw new StartupError(
        "no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG (inside a cluster the pod's service account is used, but KUBERNETES_SERVICE_HOST is not set)",
      );
    kc.loadFromCluster();
  }
  const cluster = kc.getCurrentCluster();
  const where = kubeconfig ? `kubeconfig ${kubeconfig}` : 'the in-cluster config';
  if (!cluster) throw new StartupError(`${where} has no current cluster: set current-context to a context whose cluster has a server`);
  if (!URL.canParse(cluster.server))
    throw new StartupError(`${where}: cluster ${cluster.name} has no valid server URL (${JSON.stringify(cluster.server)})`);
  return kc;
}

export function createKubeClient(kc: KubeConfig): KubeClient {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  const watcher = new Watch(kc);
  const counters = new Map<string, number>();
  const count = (verb: string) => counters.set(verb, (counters.get(verb) ?? 0) + 1);

  async function request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
    count(method);
    const options: https.RequestOptions = {
      method,
      hostname: server.hostname.replace(/^\[|\]$/g, ''),
      port: server.port || 443,
      path,
      headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
      timeout: REQUEST_TIMEOUT_MS,
    };
    await kc.applyToHTTPSOptions(options);
    return new Promise<KubeResponse>((resolve, reject) => {
      const req = https.request(options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error(`response to ${method} ${path} exceeds ${MAX_BODY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text.length > 0 ? (JSON.parse(text) as unknown) : undefined;
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
      req.end();
    });
  }

  async function watch(
    path: string,
    query: Record<string, string | number | boolean>,
    onEvent: (type: string, object: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<() => void> {
    count('WATCH');
    const controller = await watcher.watch(path, query, (type: string, object: unknown) => onEvent(type, object), done);
    return () => controller.abort();
  }

  return {
    request: (method, path, body, contentType) => request(method, path, body, contentType),
    watch,
    counters,
  };
}

/** Throws a KubeError unless the status is 2xx. */
export function expectOk(res: KubeResponse, what: string): unknown {
  if (res.status >= 200 && res.status < 300) return res.body;
  const message =
    typeof res.body === 'object' && res.body !== null && 'message' in res.body ? String((res.body as { message: unknown }).message) : '';
  throw new KubeError(`${what}: HTTP ${res.status} ${message}`.trim(), res.status, res.body);
}
