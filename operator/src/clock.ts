/** The operator takes its time from the shared package (api/src/time.ts). */
export {
  type Clock,
  type TimerHandle,
  type Timers as Scheduler,
  ManualTime,
  systemClock,
  systemTimers as systemScheduler,
} from '@jarvis/api';
