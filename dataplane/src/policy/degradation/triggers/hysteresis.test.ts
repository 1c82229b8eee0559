import { describe, expect, it } from 'vitest';
import { Hysteresis } from './hysteresis.js';

describe('Hysteresis', () => {
  it('activates at the enter threshold and deactivates only after the signal stayed below the exit threshold for holdFor', () => {
    const h = new Hysteresis({ activate: 100, deactivate: 50, holdForMs: 1000 });
    expect(h.update(0, 99)).toBe(false);
    expect(h.update(100, undefined)).toBe(false);
    expect(h.update(200, 100)).toBe(true);
    expect(h.active).toBe(true);
    expect(h.since).toBe(200);
    // Between the thresholds: stays active however long.
    expect(h.update(5_000, 70)).toBe(false);
    // Below the exit threshold: the hold starts.
    expect(h.update(5_100, 40)).toBe(false);
    expect(h.update(6_000, 40)).toBe(false);
    // A break resets the hold.
    expect(h.update(6_050, 60)).toBe(false);
    expect(h.update(6_100, 10)).toBe(false);
    expect(h.update(7_099, 10)).toBe(false);
    expect(h.active).toBe(true);
    expect(h.update(7_100, 10)).toBe(true);
    expect(h.active).toBe(false);
    expect(h.since).toBe(7_100);
  });

  it('stays active at least holdFor after it activated, and treats no value as calm', () => {
    const h = new Hysteresis({ activate: 10, deactivate: 5, holdForMs: 3000 });
    h.update(0, 0);
    h.update(1_000, 10);
    // No value (too few samples) from the next evaluation on.
    expect(h.update(1_001, undefined)).toBe(false);
    expect(h.update(4_000, undefined)).toBe(false);
    expect(h.update(4_001, undefined)).toBe(true);
  });

  it('tells the earliest time an active state may end: holdFor after activation and after the signal calmed', () => {
    const h = new Hysteresis({ activate: 100, deactivate: 50, holdForMs: 1000 });
    expect(h.earliestEnd(0)).toBeUndefined();
    h.update(200, 150);
    // Not calm yet: at least holdFor from now, and from the activation.
    expect(h.earliestEnd(200)).toBe(1_200);
    expect(h.earliestEnd(900)).toBe(1_900);
    h.update(300, 10);
    // Calm since 300, active since 200: the later of the two holds.
    expect(h.earliestEnd(400)).toBe(1_300);
    h.update(1_000, 70);
    expect(h.earliestEnd(1_000)).toBe(2_000);
    h.update(1_100, 10);
    h.update(2_100, 10);
    expect(h.active).toBe(false);
    expect(h.earliestEnd(2_100)).toBeUndefined();
  });

  it('bounds the transitions of a noisy signal by what the hold time allows', () => {
    const hold = 2000;
    const h = new Hysteresis({ activate: 100, deactivate: 80, holdForMs: hold });
    let a = 99;
    const random = () => ((a = (a * 16807) % 2147483647) - 1) / 2147483646;
    const T = 300_000;
    // Bursts of 0.1 to 4 s, each far above or far below the thresholds, evaluated every 50 ms.
    let level = 20;
    let until = 0;
    let flips = 0;
    const changes: { at: number; active: boolean }[] = [];
    for (let t = 0; t <= T; t += 50) {
      if (t >= until) {
        const next = random() < 0.5 ? 20 : 150;
        if (next !== level) flips++;
        level = next;
        until = t + 100 + Math.floor(random() * 3900);
      }
      if (h.update(t, level)) changes.push({ at: t, active: h.active });
    }
    // It does follow the load...
    expect(changes.length).toBeGreaterThan(10);
    // ...with far fewer transitions than the signal has flips, within 2·⌈T / holdFor⌉,
    expect(changes.length).toBeLessThan(flips);
    expect(changes.length).toBeLessThanOrEqual(2 * Math.ceil(T / hold));
    // and every active period lasts at least holdFor.
    for (let i = 0; i + 1 < changes.length; i++)
      if (changes[i]?.active) expect((changes[i + 1]?.at ?? 0) - (changes[i]?.at ?? 0)).toBeGreaterThanOrEqual(hold);
  });
});
