/** Hot-key detection and route surge (seed §6): see guard.ts for the model. */
export { compileHotspotGuard, hotspotCapacity, HotspotGuard, MAX_CAPACITY, MIN_CAPACITY, type HotspotGuardDeps } from './guard.js';
export { DEFAULT_PEER_WINDOW_MS, HotspotRegistry, type HotspotRegistryOptions } from './registry.js';
export { SpaceSaving, type SketchEntry } from './sketch.js';
export { DecayingCounter, PeerGroup, type PeerMember } from './decay.js';
export { RouteSurge, type SurgeSettings, type SurgeSnapshot } from './surge.js';
export {
  credentialValueKey,
  hotspotParameterName,
  hotspotValueKey,
  isCredentialParameter,
  MAX_VALUE_LENGTH,
  ROUTE_PARAMETER,
} from './value.js';
export type { HotKeyEntry, HotspotIR, HotValue } from './types.js';
