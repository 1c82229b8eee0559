/** The identify stage (front of every request): who is calling, or a 401/400/503 problem. */
import { kindFeature, sectionFeature } from '@jarvis/api';
import { sendProblem } from '../observe/problem.js';
import type { Exchange } from '../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type Verdict } from '../pipeline/stage.js';
import type { Identity } from './identifier.js';
import type { IdentityProblem } from './problems.js';

/** What this stage enforces of a Gateway's ClientIdentityPolicy: announced in the xDS node's client_features. */
export const IDENTIFY_FEATURES: readonly string[] = [
  kindFeature('ClientIdentityPolicy'),
  sectionFeature('ClientIdentityPolicy', 'jwt'),
  sectionFeature('ClientIdentityPolicy', 'apiKeys'),
];

function identified(x: Exchange, id: Identity | IdentityProblem): Verdict {
  if (!('clientIp' in id)) {
    x.status = id.status;
    sendProblem(x.res, id.status, id.type, id.title, id.detail);
    return ANSWERED;
  }
  x.identify(id);
  return CONTINUE;
}

/** Identifies with the identifier of the exchange's config (set before the front stages run). */
export class IdentifyStage implements Stage {
  readonly name = 'identify';

  enter(x: Exchange): Verdict | Promise<Verdict> {
    const id = x.compiled!.identifier.identify(x);
    return id instanceof Promise ? id.then((r) => identified(x, r)) : identified(x, id);
  }
}
