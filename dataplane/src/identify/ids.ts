/** Checks of tenant and user values: one implementation, shared with the translator (api/src/ir/ids.ts). */
export { checkId, isIdError, type IdError } from '@jarvis/api';
