/** The identify stage (front of every request): who is calling, or a 401/400 problem. */
import { sendProblem } from '../observe/problem.js';
import type { Exchange } from '../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type Verdict } from '../pipeline/stage.js';
import type { Identifier, Identity } from './identifier.js';
import type { IdentityProblem } from './problems.js';

function identified(x: Exchange, id: Identity | IdentityProblem): Verdict {
  if (!('clientIp' in id)) {
    x.status = id.status;
    sendProblem(x.res, id.status, id.type, id.title, id.detail);
    return ANSWERED;
  }
  x.identify(id);
  return CONTINUE;
}

export class IdentifyStage implements Stage {
  readonly name = 'identify';
  constructor(private readonly identifier: Identifier) {}

  enter(x: Exchange): Verdict | Promise<Verdict> {
    const id = this.identifier.identify(x);
    return id instanceof Promise ? id.then((r) => identified(x, r)) : identified(x, id);
  }
}
