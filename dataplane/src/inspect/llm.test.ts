import { describe, expect, it } from 'vitest';
import { llmFacts } from './llm.js';

describe('llmFacts', () => {
  it('reads the model, hashes the prompt and estimates tokens of a chat completion', () => {
    const f = llmFacts({
      model: 'gpt-4o',
      max_tokens: 256,
      messages: [
        { role: 'system', content: 'You are terse.' }, // 14
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hello there!' },
            { type: 'image_url', image_url: { url: 'x' } },
          ],
        }, // 12
      ],
    });
    expect(f.model).toBe('gpt-4o');
    expect(f.inputTokens).toBe(Math.ceil(26 / 4));
    expect(f.outputTokens).toBe(256);
    expect(f.promptHash).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('gives the same prompt the same hash whatever the model, and different prompts different hashes', () => {
    const a = llmFacts({ model: 'a', prompt: 'what is rate limiting?' });
    const b = llmFacts({ model: 'b', prompt: 'what is rate limiting?' });
    const c = llmFacts({ model: 'a', prompt: 'what is a circuit breaker?' });
    expect(a.promptHash).toBe(b.promptHash);
    expect(a.promptHash).not.toBe(c.promptHash);
    // Part boundaries count: ["ab", "c"] is not ["a", "bc"].
    expect(llmFacts({ input: ['ab', 'c'] }).promptHash).not.toBe(llmFacts({ input: ['a', 'bc'] }).promptHash);
  });

  it('prefers max_completion_tokens, and ignores what is not an OpenAI-compatible body', () => {
    expect(llmFacts({ max_completion_tokens: 10, max_tokens: 99 }).outputTokens).toBe(10);
    expect(llmFacts({ max_output_tokens: 7, instructions: 'abcd' })).toMatchObject({ outputTokens: 7, inputTokens: 1 });
    for (const odd of [null, 3, 'text', [1, 2], { model: 42, messages: 'nope', max_tokens: -5 }]) {
      expect(llmFacts(odd)).toEqual({ model: undefined, promptHash: undefined, inputTokens: 0, outputTokens: 0 });
    }
    expect(llmFacts({ model: 'm'.repeat(257) }).model).toBeUndefined(); // bounded
  });
});
