/** The gateway takes its time from the shared package (api/src/time.ts). */
export { type Clock, type TimerHandle, type Timers, ManualTime, monotonicClock, systemClock, systemTimers } from '@jarvis/api';
