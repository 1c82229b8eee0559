import { describe, expect, it } from 'vitest';
import { rewriteModel } from './fallback-body.js';

const rw = (body: string, model = 'gpt-3.5-turbo'): string | undefined => rewriteModel(Buffer.from(body), model)?.toString();

describe('rewriteModel', () => {
  it('replaces only the top-level model value, every other byte as sent', () => {
    const body = '{ "model" : "gpt-4",\n "temperature": 1.0, "n": 12345678901234567890, "stream": true }';
    expect(rw(body)).toBe('{ "model" : "gpt-3.5-turbo",\n "temperature": 1.0, "n": 12345678901234567890, "stream": true }');
  });

  it('leaves nested model fields, strings that look like keys and escapes alone', () => {
    const body = '{"messages":[{"role":"user","content":"say \\"model\\": \\"x\\" {["}],"meta":{"model":"inner"},"model":"gpt-4"}';
    const out = rw(body, 'claude-haiku') ?? '';
    expect(JSON.parse(out)).toEqual({ ...(JSON.parse(body) as object), model: 'claude-haiku' });
    expect(out.replace('"claude-haiku"', '"gpt-4"')).toBe(body);
  });

  it('adds the member when the body has none', () => {
    expect(rw('{"messages":[]}')).toBe('{"model":"gpt-3.5-turbo","messages":[]}');
    expect(rw(' {} ')).toBe(' {"model":"gpt-3.5-turbo"} ');
  });

  it('replaces a model of any type, and every repeat of the key', () => {
    expect(rw('{"model":null,"x":1}')).toBe('{"model":"gpt-3.5-turbo","x":1}');
    expect(rw('{"model":{"a":[1,"}"]},"model":7}')).toBe('{"model":"gpt-3.5-turbo","model":"gpt-3.5-turbo"}');
  });

  it('writes the model as a JSON string (quotes and unicode escaped safely)', () => {
    const out = rw('{"model":"a"}', 'we"ird\\ü') ?? '';
    expect((JSON.parse(out) as { model: string }).model).toBe('we"ird\\ü');
  });

  it('is undefined for what is not a JSON object', () => {
    for (const body of ['', '[1,2]', '"model"', '{"model":"x"', '{"model" "x"}', '{"a":1} trailing', '{model:1}', 'not json'])
      expect(rw(body), body).toBeUndefined();
  });
});
