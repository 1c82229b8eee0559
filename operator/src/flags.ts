/** Command-line flags of jarvis-operator, validated at the edge. */
export interface OperatorFlags {
  readonly kubeconfig: string | undefined;
  readonly xdsListen: { readonly host: string; readonly port: number };
  readonly healthListen: { readonly host: string; readonly port: number };
  readonly namespace: string | undefined;
  readonly leaseName: string;
  readonly leaseNamespace: string;
  readonly leaseDurationMs: number;
  readonly identity: string;
  readonly controllerName: string;
  readonly xdsTls: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string } | undefined;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly resyncMs: number;
}

export const USAGE = `Usage: jarvis-operator [flags]

  --kubeconfig PATH          kubeconfig to use (default: $KUBECONFIG, else the in-cluster config)
  --xds-listen HOST:PORT     ADS gRPC listener for gateways (default 0.0.0.0:18000)
  --health-listen HOST:PORT  /healthz, /readyz and /metrics (default 0.0.0.0:8081)
  --namespace NS             watch only this namespace (default: all)
  --lease-name NAME          leader-election Lease (default jarvis-operator)
  --lease-namespace NS       namespace of the Lease (default: --namespace, or POD_NAMESPACE, or default)
  --lease-duration DURATION  lease duration, e.g. 15s (default 15s)
  --id NAME                  identity in the Lease (default: POD_NAME or hostname-pid)
  --controller-name NAME     GatewayClass controllerName we own (default stability.jarvis.io/gateway-controller)
  --xds-tls-cert FILE        serve xDS over TLS with this certificate (PEM)
  --xds-tls-key FILE         ... and this key
  --xds-tls-ca FILE          require gateway client certificates signed by this CA (mTLS)
  --resync DURATION          periodic relist of every watched collection (default 5m)
  --log-level LEVEL          debug | info | warn | error (default info)
  --help                     this text
`;

export { FlagError, parseDurationMs, parseHostPort } from '@jarvis/api';
import { FlagError, parseDurationMs, parseHostPort, readFlags } from '@jarvis/api';

const VALUE_FLAGS = new Set([
  'kubeconfig',
  'xds-listen',
  'health-listen',
  'namespace',
  'lease-name',
  'lease-namespace',
  'lease-duration',
  'id',
  'controller-name',
  'xds-tls-cert',
  'xds-tls-key',
  'xds-tls-ca',
  'resync',
  'log-level',
]);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function parseFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  hostname: string,
  pid: number,
): OperatorFlags | 'help' {
  const values = readFlags(argv, VALUE_FLAGS, USAGE);
  if (values === 'help') return 'help';
  const namespace = values.get('namespace');
  if (namespace !== undefined && !DNS_LABEL.test(namespace)) throw new FlagError(`--namespace: not a valid namespace name: ${namespace}`);
  const leaseName = values.get('lease-name') ?? 'jarvis-operator';
  if (!/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/.test(leaseName)) throw new FlagError(`--lease-name: not a valid object name: ${leaseName}`);
  const leaseNamespace = values.get('lease-namespace') ?? namespace ?? env['POD_NAMESPACE'] ?? 'default';
  if (!DNS_LABEL.test(leaseNamespace)) throw new FlagError(`--lease-namespace: not a valid namespace name: ${leaseNamespace}`);
  const cert = values.get('xds-tls-cert');
  const key = values.get('xds-tls-key');
  const ca = values.get('xds-tls-ca');
  if ((cert === undefined) !== (key === undefined)) throw new FlagError('--xds-tls-cert and --xds-tls-key go together');
  if (ca !== undefined && cert === undefined) throw new FlagError('--xds-tls-ca needs --xds-tls-cert and --xds-tls-key');
  const logLevel = values.get('log-level') ?? 'info';
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new FlagError(`--log-level: one of debug, info, warn, error`);
  const leaseDurationMs = parseDurationMs(values.get('lease-duration') ?? '15s', '--lease-duration');
  if (leaseDurationMs < 2000) throw new FlagError('--lease-duration: at least 2s');
  return {
    kubeconfig: values.get('kubeconfig') ?? env['KUBECONFIG'],
    xdsListen: parseHostPort(values.get('xds-listen') ?? '0.0.0.0:18000', '--xds-listen'),
    healthListen: parseHostPort(values.get('health-listen') ?? '0.0.0.0:8081', '--health-listen'),
    namespace,
    leaseName,
    leaseNamespace,
    leaseDurationMs,
    identity: values.get('id') ?? env['POD_NAME'] ?? `${hostname}-${pid}`,
    controllerName: values.get('controller-name') ?? 'stability.jarvis.io/gateway-controller',
    xdsTls:
      cert !== undefined && key !== undefined ? { certFile: cert, keyFile: key, ...(ca !== undefined ? { caFile: ca } : {}) } : undefined,
    logLevel: logLevel as OperatorFlags['logLevel'],
    resyncMs: parseDurationMs(values.get('resync') ?? '5m', '--resync'),
  };
}
