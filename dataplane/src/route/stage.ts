/** The route stage (front of every request): the HTTPRoute rule that claims the request, whose chain runs next; or 404. */
import { sendProblem } from '../observe/problem.js';
import type { Exchange } from '../pipeline/exchange.js';
import { ANSWERED, CONTINUE, type Stage, type Verdict } from '../pipeline/stage.js';

export class RouteStage implements Stage {
  readonly name = 'route';

  enter(x: Exchange): Verdict {
    const compiled = x.compiled;
    const ir = compiled?.matcher.match(x);
    const route = ir ? compiled?.routes.get(ir.id) : undefined;
    if (!route) {
      x.status = 404;
      sendProblem(
        x.res,
        404,
        'no-route',
        'No route',
        `No route matches ${x.method} ${x.path.length > 256 ? x.path.slice(0, 256) : x.path}.`,
      );
      return ANSWERED;
    }
    x.route = route;
    x.routeId = route.id;
    x.serviceIds = route.serviceIds;
    // From here on the route's own chain runs; its stages' leave() see the outcome.
    x.chain = route.chain;
    x.next = 0;
    x.entered = 0;
    return CONTINUE;
  }
}
