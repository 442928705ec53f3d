// What the generic xDS stream state machines (SotW and Delta) know about a resource: a name, the
// packed Any, a content version and the change keys it depends on. Resolvers for SDS and ECDS
// produce these; the state machines never look inside.
import { createHash } from "node:crypto";
import type { Any } from "@bufbuild/protobuf/wkt";

export interface ResolvedResource {
  readonly name: string;
  readonly resource: Any;
  /** `resource` in protobuf wire format, encoded once and shared by every stream sending it. */
  readonly encoded: Uint8Array;
  /** Content version: equal versions mean byte-identical resources. */
  readonly version: string;
  /** Change keys (see the `*Key` helpers) whose events may change this resource. */
  readonly deps: readonly string[];
}

/** Resolves one requested name for one stream's caller. Throws SpindleError ERR_XDS_RESOURCE_*. */
export interface ResourceResolver {
  resolve(name: string): Promise<ResolvedResource>;
}

/** A stable, short content version of a packed resource. */
export function contentVersion(resource: Any): string {
  return createHash("sha256").update(resource.typeUrl).update(resource.value).digest("base64url").slice(0, 16);
}

// Change keys: the vocabulary between sources' change events and streams' dependencies.
export const svidKey = (spiffeId: string): string => `svid:${spiffeId}`;
export const bundleKey = (trustDomain: string): string => `bundle:${trustDomain}`;
/** Any bundle change, or a federation change (names resolving to "all bundles"). */
export const ALL_BUNDLES_KEY = "bundles:*";
/** A change of which SVIDs/bundles callers are entitled to (e.g. `default` may now be another ID). */
export const ENTITLEMENTS_KEY = "entitlements";
export const extensionKey = (name: string): string => `extension:${name}`;
