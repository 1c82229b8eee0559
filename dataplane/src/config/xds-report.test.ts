import { createLogger } from '@jarvis/api';
import { describe, expect, it } from 'vitest';
import { ManualTime } from '../clock.js';
import { XdsReport, connectionCause } from './xds-report.js';

interface Line {
  level: string;
  msg: string;
  [field: string]: unknown;
}

function setup() {
  const time = new ManualTime();
  const lines: Line[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(JSON.parse(l) as Line) });
  const report = new XdsReport({ target: '127.0.0.1:1', group: 'ns/gw', clock: time, log, repeatMs: 60_000, silentMs: 5_000 });
  const warnings = () => lines.filter((l) => l.level === 'warn');
  return { time, lines, report, warnings };
}

const refused = { code: 14, details: 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ' };

describe('XdsReport', () => {
  it('names the cause of an unreachable operator at warn, then at most once a minute, each retry at debug', () => {
    const { time, lines, report, warnings } = setup();
    for (let i = 0; i < 30; i++) {
      report.disconnected(refused, 1000);
      report.tick('unknown', false);
      time.advance(1000);
    }
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({
      msg: expect.stringContaining('cannot reach the operator at 127.0.0.1:1: check --xds'),
      error: 'connect ECONNREFUSED 127.0.0.1:1',
      attempts: 1,
    });
    expect(lines.filter((l) => l.level === 'debug')).toHaveLength(29);
    for (let i = 0; i < 40; i++) {
      report.disconnected(refused, 1000);
      time.advance(1000);
    }
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ attempts: 61, attemptsSinceLastWarning: 60 });
    report.connected();
    expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'xDS connected', failedAttempts: 70 });
  });

  it('warns once when a working stream ends, and warns again about failures only after the repeat interval', () => {
    const { time, report, warnings } = setup();
    report.connected();
    report.disconnected({ code: 14, details: 'Connection dropped' }, 250);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ msg: expect.stringContaining('stream to the operator ended'), error: 'Connection dropped' });
    for (let i = 0; i < 10; i++) {
      report.disconnected(refused, 1000);
      time.advance(1000);
    }
    expect(warnings()).toHaveLength(1);
    time.advance(60_000);
    report.disconnected(refused, 1000);
    expect(warnings()).toHaveLength(2);
  });

  it('says nothing on a deliberate close', () => {
    const { report, lines } = setup();
    report.connected();
    const before = lines.length;
    report.disconnected({ code: 1, details: 'Cancelled' }, undefined);
    expect(lines).toHaveLength(before);
  });

  it('warns when a reachable operator sends nothing for our Gateway, after the silent period and then once a minute', () => {
    const { time, report, warnings } = setup();
    for (let s = 0; s < 4; s++) {
      time.advance(1000);
      report.tick('unknown', false);
    }
    expect(warnings()).toHaveLength(0);
    for (let s = 0; s < 60; s++) {
      time.advance(1000);
      report.tick('unknown', false);
    }
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({
      msg: expect.stringMatching(/^no config for Gateway ns\/gw from the operator at 127.0.0.1:1 yet: check --gateway NAMESPACE\/NAME/),
      gateway: 'ns/gw',
      serving: expect.stringContaining('nothing yet'),
    });
    time.advance(1000);
    report.tick('unknown', false);
    expect(warnings()).toHaveLength(2);
  });

  it('warns that the operator serves no such Gateway when its config leaves ours out; quiet once it is present', () => {
    const { time, report, warnings } = setup();
    report.connected();
    time.advance(6000);
    report.tick('absent', true);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({
      msg: expect.stringContaining('serves no Gateway ns/gw'),
      serving: 'the last good config',
    });
    report.tick('present', true);
    time.advance(600_000);
    report.tick('present', true);
    expect(warnings()).toHaveLength(1);
  });

  it('leaves a silent operator to the failure lines while it cannot be reached', () => {
    const { time, report, warnings } = setup();
    report.disconnected(refused, 1000);
    time.advance(30_000);
    report.tick('unknown', false);
    expect(warnings()).toHaveLength(1); // the unreachable line only
  });
});

describe('connectionCause', () => {
  it("keeps grpc-js's cause and drops its wrapping", () => {
    expect(connectionCause(refused)).toBe('connect ECONNREFUSED 127.0.0.1:1');
    expect(connectionCause({ code: 14, details: '' })).toBe('gRPC status 14');
    expect(connectionCause({ code: 14, details: 'Connection dropped' })).toBe('Connection dropped');
  });
});
