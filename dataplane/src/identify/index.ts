/** identify/ — who is calling: the first stage of the gateway's request path. */
export {
  type IdentityConfig,
  type JwtConfig,
  type JwtAlgorithm,
  type JwtKeySource,
  type ApiKeysConfig,
  JWT_ALGORITHMS,
  IdentityConfigError,
  defaultIdentityConfig,
  loadIdentityConfig,
  parseIdentityConfig,
} from './config.js';
export {
  type Identity,
  type Identifier,
  type IdentifyRequest,
  type IdentifierOptions,
  type IdentifyLog,
  createIdentifier,
} from './identifier.js';
export { type IdentityProblem, isIdentityProblem } from './problems.js';
export { hashApiKey } from './apikeys.js';
