export { type AcquiredControlPlane, acquireControlPlane, ensureInstanceCrds } from './acquire.js';
export { type Binaries, ensureBinaries } from './binaries.js';
export { type CertificateOptions, type Certificates, createCertificates, issueClientCertificate } from './certs.js';
export {
  type ApiEndpoint,
  type ApiResponse,
  endpointFromKubeconfig,
  isApiHealthy,
  kubeconfigYaml,
  request,
  type RequestOptions,
  writeKubeconfig,
} from './client.js';
export { type ControlPlane, startControlPlane, type StartControlPlaneOptions } from './control-plane.js';
export {
  type CrdRef,
  crdsInFile,
  GATEWAY_API_VERSION,
  gatewayApiCrdFiles,
  goModuleDir,
  installCrds,
  type InstallCrdsOptions,
  type KubeTarget,
  repoCrdFiles,
  waitForCrdsServed,
} from './crds.js';
export { freePort, freePorts, isPortFree } from './ports.js';
export {
  checkInstance,
  type EnvtestState,
  findHealthyInstance,
  type InstanceHealth,
  readState,
  removeState,
  runDir,
  stateFilePath,
  stateFromControlPlane,
  stopInstance,
  withStateLock,
  writeState,
} from './state.js';
