/** The operator logs through the shared structured logger (api/src/log.ts). */
export { type Fields, type Level, type Logger, createLogger, silentLogger } from '@jarvis/api';
