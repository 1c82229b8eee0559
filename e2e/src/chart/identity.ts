/**
 * A kubeconfig that authenticates as a ServiceAccount, so that only the RBAC bound to that
 * ServiceAccount applies: a client certificate for `system:serviceaccount:NS:NAME` (groups
 * system:serviceaccounts and system:serviceaccounts:NS, as for a token) signed by the test
 * control plane's CA when its `pki/` is beside the admin kubeconfig; otherwise (a cluster from
 * JARVIS_E2E_KUBECONFIG) a token from the TokenRequest API.
 */
import { access, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';

import yaml from 'js-yaml';

import { issueClientCertificate } from '../envtest/certs.js';
import { endpointFromKubeconfig, kubeconfigYaml } from '../envtest/client.js';
import type { Kubectl } from '../kubectl.js';

export interface ServiceAccountKubeconfig {
  kubeconfig: string;
  /** The user name the apiserver sees. */
  user: string;
  how: 'client certificate' | 'token';
  /** One request as this identity: the HTTP status and body (JSON merge patch for PATCH). */
  request(method: string, apiPath: string, body?: unknown): Promise<{ status: number; text: string }>;
}

function requester(
  server: string,
  caPem: string,
  auth: { cert: string; key: string } | { token: string },
): ServiceAccountKubeconfig['request'] {
  return (method, apiPath, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        new URL(apiPath, server),
        {
          method,
          ca: caPem,
          agent: false,
          ...('token' in auth ? {} : { cert: auth.cert, key: auth.key }),
          headers: {
            accept: 'application/json',
            ...('token' in auth ? { authorization: `Bearer ${auth.token}` } : {}),
            ...(payload === undefined
              ? {}
              : {
                  'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
                  'content-length': Buffer.byteLength(payload),
                }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${apiPath} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
}

export async function serviceAccountKubeconfig(
  adminKubeconfig: string,
  kubectl: Kubectl,
  sa: { namespace: string; name: string },
  outFile: string,
): Promise<ServiceAccountKubeconfig> {
  const user = `system:serviceaccount:${sa.namespace}:${sa.name}`;
  const admin = await endpointFromKubeconfig(adminKubeconfig);
  if (!admin) throw new Error(`${adminKubeconfig}: no client-certificate credentials to take the server and CA from`);
  const pki = path.join(path.dirname(adminKubeconfig), 'pki');
  const haveCa = await access(path.join(pki, 'ca.key')).then(
    () => true,
    () => false,
  );
  if (haveCa) {
    const { certPem, keyPem } = await issueClientCertificate(pki, `sa-${sa.namespace}-${sa.name}`, {
      commonName: user,
      organizations: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`],
    });
    await writeFile(outFile, kubeconfigYaml({ server: admin.server, caPem: admin.caPem, clientCertPem: certPem, clientKeyPem: keyPem }), {
      mode: 0o600,
    });
    return {
      kubeconfig: outFile,
      user,
      how: 'client certificate',
      request: requester(admin.server, admin.caPem, { cert: certPem, key: keyPem }),
    };
  }
  const token = (await kubectl.ok(['create', 'token', sa.name, '-n', sa.namespace, '--duration=1h'])).trim();
  const b64 = Buffer.from(admin.caPem, 'utf8').toString('base64');
  await writeFile(
    outFile,
    yaml.dump({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: admin.server, 'certificate-authority-data': b64 } }],
      users: [{ name: 'sa', user: { token } }],
      contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
  return { kubeconfig: outFile, user, how: 'token', request: requester(admin.server, admin.caPem, { token }) };
}
