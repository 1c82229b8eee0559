import type { KindHandler } from '../context.js';
import type { MockKind } from '../spec.js';
import { chatKind } from './chat.js';
import { llmKind } from './llm.js';
import { searchKind } from './search.js';
import { trivialKind } from './trivial.js';

/** One handler per kind; adding a kind to MOCK_KINDS without a handler fails to compile. */
export const KINDS = { llm: llmKind, search: searchKind, chat: chatKind, trivial: trivialKind } satisfies Record<MockKind, KindHandler>;
