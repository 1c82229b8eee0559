/** identify/ — who is calling: the first stage of the gateway's request path. */
export { IdentityConfigError, anonymousIdentity, loadIdentityFile, parseIdentitySettings } from './config.js';
export {
  type Identity,
  type Identifier,
  type IdentifyRequest,
  type IdentifierOptions,
  type IdentifyLog,
  createIdentifier,
} from './identifier.js';
export { IdentityHolder, type IdentitySource, type PendingIdentity } from './current.js';
export { JwksRegistry, httpJwksFetch, type JwksFetch } from './remote.js';
export { IDENTIFY_FEATURES } from './stage.js';
export { type IdentityProblem, isIdentityProblem } from './problems.js';
export { hashApiKey } from './apikeys.js';
