/**
 * Why a request's identity was refused, as RFC 9457 problem details. `type` is the slug under the
 * gateway's problem base (observe/problem.ts `sendProblem` prefixes it); `detail` never echoes a
 * credential.
 */
export interface IdentityProblem {
  readonly status: 400 | 401 | 403 | 503;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
}

export function isIdentityProblem(v: object): v is IdentityProblem {
  return 'status' in v;
}

/** A credential header sent more than once: which one counts would be the attacker's choice. */
export function duplicateHeader(name: string, count: number): IdentityProblem {
  return {
    status: 400,
    type: 'ambiguous-credentials',
    title: 'Ambiguous credentials',
    detail: `the request carries ${count} ${name} headers; send exactly one`,
  };
}

/** A tenant or user value that cannot be a key (control characters, overlong, not a string). */
export function badIdentity(detail: string): IdentityProblem {
  return { status: 400, type: 'invalid-identity', title: 'Invalid identity value', detail };
}

export function invalidToken(detail: string): IdentityProblem {
  return { status: 401, type: 'invalid-token', title: 'Invalid bearer token', detail };
}

export function invalidApiKey(detail: string): IdentityProblem {
  return { status: 401, type: 'invalid-api-key', title: 'Invalid API key', detail };
}

export function credentialsRequired(detail: string): IdentityProblem {
  return { status: 401, type: 'credentials-required', title: 'Authentication required', detail };
}

/** The keys that would verify the credential cannot be had right now (a JWKS URL not fetched yet): not the client's fault. */
export function keysUnavailable(detail: string): IdentityProblem {
  return { status: 503, type: 'identity-unavailable', title: 'Identity provider keys unavailable', detail };
}
