/**
 * Where the protos live and how they are loaded. Our own protos ship in this package's `proto/`
 * folder (resolved relative to this module, so it works from `src/` and from `dist/`); the Envoy
 * discovery protos and their imports come from the `@grpc/grpc-js-xds` package's `deps/` folder.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

/** `<package>/proto`: api/src/wire/ and api/dist/wire/ are both two levels below the package. */
export const PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));

/** Our resource messages, relative to PROTO_DIR. */
export const RESOURCES_PROTO = 'jarvis/stability/v1alpha1/resources.proto';

function envoyDepsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
}

/** Include directories for the Envoy API protos and everything they import. */
export function protoIncludeDirs(): string[] {
  const deps = envoyDepsDir();
  return [PROTO_DIR, join(deps, 'envoy-api'), join(deps, 'xds'), join(deps, 'googleapis'), join(deps, 'protoc-gen-validate')];
}

/**
 * proto-loader options shared by both sides of the stream: field names as in the .proto files
 * (`version_info`, `response_nonce`, …), defaults filled in. Not `json: true`: that would unpack
 * `google.protobuf.Any` values into objects, and we want the raw bytes to decode them ourselves.
 */
export const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

let adsDefinition: PackageDefinition | undefined;

/** The package definition of envoy.service.discovery.v3 (ADS), loaded once. */
export function loadAdsDefinition(): PackageDefinition {
  adsDefinition ??= loadSync(
    // google/protobuf/any.proto comes with protobufjs (proto-loader's parser), not from a folder.
    ['envoy/service/discovery/v3/ads.proto', 'google/rpc/status.proto', RESOURCES_PROTO],
    { ...LOADER_OPTIONS, includeDirs: protoIncludeDirs() },
  );
  return adsDefinition;
}
