export { type ChartTools, ensureChartTools } from './tools.js';
export {
  helmInstallDryRun,
  helmLint,
  helmTemplate,
  type HelmResult,
  type K8sObject,
  objectsOf,
  only,
  render,
  RELEASE,
  RELEASE_NAMESPACE,
  type RenderOptions,
} from './helm.js';
export { monitoringCrdFiles, PROMETHEUS_OPERATOR_VERSION } from './monitoring.js';
export { checkDashboard, checkPrometheusRule, dashboardExprs, type ExprCheck, grafanaToPromql } from './promql.js';
export { type Exposition, mergeExpositions, parseExposition } from './exposition.js';
export { serviceAccountKubeconfig, type ServiceAccountKubeconfig } from './identity.js';
