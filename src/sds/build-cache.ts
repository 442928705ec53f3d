// Built resources cached by the identity of the material they were built from. Ten thousand
// streams asking for the same rotated SVID cost one PEM encoding, one toBinary and one hash; the
// cache entries go away with the material objects (WeakMap), so nothing needs invalidating.
import { toBinary } from "@bufbuild/protobuf";
import { AnySchema, type Any } from "@bufbuild/protobuf/wkt";
import { contentVersion } from "./xds-resource.js";

export interface BuiltResource {
  readonly resource: Any;
  readonly encoded: Uint8Array;
  readonly version: string;
}

export interface BuildCache {
  /**
   * The resource built from `anchor` (+ `parts`, compared by identity) under `key` (name and
   * variant); `build` runs only on a miss.
   */
  get(anchor: object, key: string, parts: readonly object[], build: () => Any): BuiltResource;
}

interface Entry extends BuiltResource {
  readonly parts: readonly object[];
}

export function createBuildCache(): BuildCache {
  const byAnchor = new WeakMap<object, Map<string, Entry>>();
  return {
    get(anchor, key, parts, build) {
      let entries = byAnchor.get(anchor);
      if (entries === undefined) {
        entries = new Map();
        byAnchor.set(anchor, entries);
      }
      const hit = entries.get(key);
      if (hit !== undefined && sameParts(hit.parts, parts)) return hit;
      const resource = build();
      const entry: Entry = { resource, encoded: toBinary(AnySchema, resource), version: contentVersion(resource), parts: [...parts] };
      entries.set(key, entry);
      return entry;
    },
  };
}

function sameParts(a: readonly object[], b: readonly object[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
