/**
 * Whether a Gateway is Programmed (Gateway API): True once at least one gateway process serving it
 * is connected and every connected one has ACKed the current config of that Gateway (its Gateway
 * resource and its backends), so traffic through any of them follows the current spec. False with
 * reason Pending while none is connected or one has not ACKed yet, and Invalid when one refused
 * the current config (NACK: it keeps serving the previous one).
 */
import { BACKEND_TYPE_URL, GATEWAY_TYPE_URL } from '@jarvis/api';
import type { WantedCondition } from './conditions.js';
import type { EnforcementTracker, GatewayView } from './enforcement.js';

export function programmed(group: string, views: readonly GatewayView[], tracker: EnforcementTracker): WantedCondition {
  const wanted: [string, string][] = [];
  for (const typeUrl of [GATEWAY_TYPE_URL, BACKEND_TYPE_URL]) {
    const version = tracker.currentVersion(group, typeUrl);
    if (version !== undefined) wanted.push([typeUrl, version]);
  }
  if (wanted.length === 0)
    return { type: 'Programmed', status: false, reason: 'Pending', message: 'No configuration has been published for this Gateway yet.' };
  const connected = views.filter((v) => v.group === group);
  if (connected.length === 0)
    return {
      type: 'Programmed',
      status: false,
      reason: 'Pending',
      message: `No gateway process of ${group} is connected (jarvis-gateway --gateway ${group}).`,
    };
  const rejected: string[] = [];
  const waiting: string[] = [];
  for (const v of connected) {
    const nack = wanted.map(([t, version]) => v.nacked[t]?.version === version && v.nacked[t]?.message).find((m) => typeof m === 'string');
    if (nack !== undefined) rejected.push(`${v.nodeId} (${nack})`);
    else if (!wanted.every(([t, version]) => v.acked[t] === version)) waiting.push(v.nodeId);
  }
  if (rejected.length > 0)
    return {
      type: 'Programmed',
      status: false,
      reason: 'Invalid',
      message: `The current configuration was refused; the previous one keeps serving: ${rejected.sort().join('; ')}`.slice(0, 4096),
    };
  if (waiting.length > 0)
    return {
      type: 'Programmed',
      status: false,
      reason: 'Pending',
      message: `Waiting for gateways to acknowledge the current configuration: ${waiting.sort().join(', ')}`.slice(0, 4096),
    };
  const nodes = connected.map((v) => v.nodeId).sort();
  return {
    type: 'Programmed',
    status: true,
    reason: 'Programmed',
    message: `Serving the current configuration: ${nodes.length} gateway${nodes.length === 1 ? '' : 's'} (${nodes.join(', ')}).`.slice(
      0,
      4096,
    ),
  };
}
