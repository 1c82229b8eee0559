import { describe, expect, it } from 'vitest';
import { Focus } from './focus.js';

describe('Focus', () => {
  it('pauses every other gateway, continues the one measured, and pauses or continues each only once', () => {
    const sent: string[] = [];
    const f = new Focus((pid, sig) => sent.push(`${sig} ${pid}`));
    f.add(1);
    f.add(2);
    f.add(3);
    f.add(undefined);
    f.runOnly([2]);
    expect(sent.sort()).toEqual(['SIGSTOP 1', 'SIGSTOP 3']);
    sent.length = 0;
    f.runOnly([2]);
    expect(sent).toEqual([]);
    f.runOnly([1, 3]);
    expect(sent.sort()).toEqual(['SIGCONT 1', 'SIGCONT 3', 'SIGSTOP 2']);
    sent.length = 0;
    // The bare proxy's slice: a pid that is not a gateway is never signalled; every gateway pauses.
    f.runOnly([99]);
    expect(sent.sort()).toEqual(['SIGSTOP 1', 'SIGSTOP 3']);
    sent.length = 0;
    f.resumeAll();
    expect(sent.sort()).toEqual(['SIGCONT 1', 'SIGCONT 2', 'SIGCONT 3']);
    sent.length = 0;
    f.resumeAll();
    expect(sent).toEqual([]);
  });
});
