/** The operator's xDS stage: snapshot cache → ADS server. */
export { SnapshotCache, type GroupListener } from './cache.js';
export {
  makeSnapshot,
  snapshotFromResources,
  contentVersion,
  type Snapshot,
  type TypeSnapshot,
  type SnapshotResource,
  type TypeInput,
} from './snapshot.js';
export type { XdsObserver, StreamInfo, GatewayStatus } from './observer.js';
export { createXdsServer, groupFromCluster, type GroupOf, type XdsServer, type XdsServerOptions, type XdsTlsOptions } from './server.js';
