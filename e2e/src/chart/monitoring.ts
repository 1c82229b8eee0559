/**
 * The Prometheus Operator's CRDs for ServiceMonitor and PrometheusRule, from its Go module (the
 * test control plane has none): the chart's monitoring objects are then checked against their
 * real schemas when applied.
 */
import path from 'node:path';

import { goModuleDir } from '../envtest/crds.js';

export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';

export async function monitoringCrdFiles(version = PROMETHEUS_OPERATOR_VERSION): Promise<string[]> {
  const dir = path.join(
    await goModuleDir('github.com/prometheus-operator/prometheus-operator', version),
    'example',
    'prometheus-operator-crd',
  );
  return ['servicemonitors', 'prometheusrules'].map((plural) => path.join(dir, `monitoring.coreos.com_${plural}.yaml`));
}
