// The Envoy type registry: every file generated from third-party protos (Envoy, xds, udpa,
// validate, googleapis), so that every `google.protobuf.Any` `@type` in an Envoy config resolves.
// The list is derived from the generated code: `npm run generate` writes
// src/gen/thirdparty_files.ts beside the files it generates, and `npm run check:gen` fails when it
// is stale. Spindle's own protos (proto/) are never Envoy @types and are not in it.
import type { DescFile, Registry } from "@bufbuild/protobuf";
import { createRegistry } from "@bufbuild/protobuf";
import { THIRD_PARTY_FILES } from "../gen/thirdparty_files.js";

/** The generated third-party files, in path order. */
export const GENERATED_FILES: readonly DescFile[] = THIRD_PARTY_FILES;

/**
 * A registry of every generated message, enum and extension plus everything they import
 * (the google.protobuf well-known types come from @bufbuild/protobuf). Built on each call: it is
 * cheap (a few milliseconds) and no module-level state is kept. Callers decoding many configs
 * pass one registry to each call.
 */
export function envoyRegistry(): Registry {
  const seen = new Set<string>();
  const files: DescFile[] = [];
  const visit = (file: DescFile): void => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dep of file.dependencies) visit(dep);
    files.push(file);
  };
  for (const file of GENERATED_FILES) visit(file);
  return createRegistry(...files);
}
