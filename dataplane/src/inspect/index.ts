/** Looking inside request bodies, for the routes whose policies need it. */
export { readBody, type BodyRead } from './body.js';
export { llmFacts, type LlmFacts } from './llm.js';
