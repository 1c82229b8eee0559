/** Degradation triggers: load signals with hysteresis (seed §4.2). */
export { Hysteresis, type HysteresisSettings } from './hysteresis.js';
export { LogHistogram, LogLayout, WindowedSketch } from './sketch.js';
export { SystemSignals, type SystemProbe, type SystemSignal } from './system.js';
export { TriggerSet, type TriggerIR, type TriggerTransition, type TriggerView } from './engine.js';
export { WindowedRate } from './window.js';
export type { DegradationState } from './state.js';
