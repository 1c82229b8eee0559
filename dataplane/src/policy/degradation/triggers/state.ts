/**
 * What other degradation parts (a fallback chain's `whenTriggered`) read of the triggers: which
 * are active on a route now. Implemented by the gateway's DegradationRegistry (toggles-registry.ts).
 */
export interface DegradationState {
  /** Whether the named trigger of the route's DegradationPolicy is active now (false when unknown). */
  isActive(routeId: string, trigger: string): boolean;
  /** The route's active triggers, sorted by name. */
  activeTriggers(routeId: string): readonly string[];
}
