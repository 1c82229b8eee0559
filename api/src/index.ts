export * from './schema/builders.js';
export * from './schema/common.js';
export * from './schema/ratelimit.js';
export * from './schema/queue.js';
export * from './schema/circuitbreaker.js';
export * from './schema/degradation.js';
export * from './schema/cache.js';
export * from './schema/identity.js';
export * from './schema/kinds.js';
export { crdFor, crdYaml, renderCrds, plainSchema, type Json } from './crd/render.js';
export { renderReference } from './crd/reference.js';
export { generatedFiles, findDrift, type Drift } from './crd/outputs.js';
export * from './ir/types.js';
export { FORWARDING_HEADERS, HOP_BY_HOP_HEADERS } from './ir/feature-header.js';
export * from './wire/resources.js';
export { PROTO_DIR, RESOURCES_PROTO, protoIncludeDirs, loadAdsDefinition } from './wire/protos.js';
export * from './xds/messages.js';
export * from './xds/scheduler.js';
export * from './xds/client.js';
export * from './ir/types.js';
export { type Immutable, POLICY_KINDS } from './ir/common.js';
export { compareMatchPrecedence, comparePolicyRefs, compareStrings, sortPolicyRefs } from './ir/order.js';
export { compileRouteRegex, MAX_REGEX_PROGRAM_SIZE, type CompiledRegex, type RouteRegex } from './ir/regex.js';
export { validateIR, validateGatewayResource, validateBackendResource, type Checked } from './ir/validate.js';
export { translate, type TranslatorInput, type TranslateOptions } from './translate/translate.js';
export { CONTROLLER_NAME } from './translate/constants.js';
export { LastAccepted, type RetainedObject, type RetainingResult } from './translate/retain.js';
export type {
  TranslateResult,
  PolicyResult,
  PolicyReason,
  RouteParentResult,
  RouteAcceptedReason,
  RouteResolvedRefsReason,
  ParentRefResult,
  ParseProblem,
  GatewayResult,
  GatewayClassResult,
  ListenerResult,
} from './translate/result.js';
export type { Finding } from './translate/model.js';
export { durationMs } from './translate/duration.js';
export { validateManifest, isPolicyManifest, type ManifestResult, type ManifestOptions } from './validate/manifest.js';
export { loadYamlDocuments, YamlError, DEFAULT_YAML_LIMITS, type YamlLimits } from './yaml/load.js';
export { formatFieldError, type FieldError, type FieldErrorType } from './validate/errors.js';
export * from './time.js';
export * from './flags.js';
export * from './log.js';
export * from './group.js';
export * from './features.js';
export { isCidr, identityInvariants } from './ir/identity-invariants.js';
export { checkId, isIdError, type IdError } from './ir/ids.js';
export { validateValue, type ValueResult } from './validate/value.js';
export { compileIdentity, type CompiledIdentity, type IdentityRefProblem, type IdentitySources } from './translate/compile/identity.js';
export { identityFindings } from './translate/checks.js';
export { readJwks, algorithmsFor, describeKey, type UsableJwk, type JwksResult } from './translate/jwks.js';
