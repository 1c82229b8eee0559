export * from './spec.js';
export { type KindHandler, type MockContext, type MockRequest } from './context.js';
export { startMock, startMocks, MAX_BODY_BYTES, type MockDeps, type MockStats, type RunningMock, type RunningMocks } from './server.js';
export { COMPLETIONS_PATH, estimateTokens, parseCompletionRequest } from './kinds/llm.js';
export { RETRIEVE_PATH, FEATURES_HEADER, parseRetrieveRequest } from './kinds/search.js';
