import { afterEach, describe, expect, it, vi } from 'vitest';

const EVENTS = ['exit', 'SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function counts(): number[] {
  return EVENTS.map((e) => process.listenerCount(e));
}

afterEach(() => {
  vi.resetModules();
});

describe('process tracking', () => {
  it('installs its exit and signal hooks once per process, however often the module is evaluated', async () => {
    // A test runner running several files in one process evaluates the module again for each.
    const first = await import('./processes.js');
    const forgetFirst = first.trackDir('/nonexistent/jarvis-processes-test-a');
    const installed = counts();
    for (let i = 0; i < 12; i++) {
      vi.resetModules();
      const again = await import('./processes.js');
      again.trackDir(`/nonexistent/jarvis-processes-test-${i}`)();
    }
    expect(counts()).toEqual(installed);
    forgetFirst();
  });
});
