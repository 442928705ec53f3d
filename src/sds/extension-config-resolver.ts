// Resolves ECDS names: TypedExtensionConfig{name, typed_config} from the ExtensionConfigSource
// (docs/design/wire-facts.md, "Envoy RBAC and ECDS").
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { TypedExtensionConfigSchema } from "../gen/envoy/config/core/v3/extension_pb.js";
import type { BuildCache } from "./build-cache.js";
import type { Caller, ExtensionConfigSource } from "./contracts.js";
import { extensionKey, unavailable, type ResourceResolver } from "./xds-resource.js";

export function createExtensionConfigResolver(source: ExtensionConfigSource, caller: Caller, cache: BuildCache): ResourceResolver {
  return {
    async resolve(name) {
      const typedConfig = await source.get(name, caller);
      if (typedConfig === undefined) {
        // Pushed when a config of that name appears (a policy reload).
        throw unavailable("ERR_XDS_RESOURCE_NOT_FOUND", name, `extension config "${name}" does not exist`, [extensionKey(name)]);
      }
      const built = cache.get(typedConfig, name, [], () =>
        anyPack(TypedExtensionConfigSchema, create(TypedExtensionConfigSchema, { name, typedConfig })),
      );
      return { name, ...built, deps: [extensionKey(name)] };
    },
  };
}
