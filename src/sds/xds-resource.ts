// What the generic xDS stream state machines (SotW and Delta) know about a resource: a name, the
// packed Any, a content version and the change keys it depends on. Resolvers for SDS and ECDS
// produce these; the state machines never look inside.
import { createHash } from "node:crypto";
import type { Any } from "@bufbuild/protobuf/wkt";
import { SpindleError, spindleError } from "../common/errors.js";

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

/**
 * Resolves one requested name for one stream's caller. A name the caller cannot have (yet)
 * throws ERR_XDS_RESOURCE_NOT_FOUND or ERR_XDS_RESOURCE_DENIED made by `unavailable`, naming the
 * change keys after which it may resolve; anything else thrown ends the stream.
 */
export interface ResourceResolver {
  resolve(name: string): Promise<ResolvedResource>;
}

/** A requested name that does not resolve now; `deps` are the change keys that may change that. */
export interface UnavailableResource {
  readonly name: string;
  readonly error: SpindleError;
  readonly deps: readonly string[];
}

/** The error a resolver throws for a name it cannot serve now; `deps` say when to try again. */
export function unavailable(code: "ERR_XDS_RESOURCE_NOT_FOUND" | "ERR_XDS_RESOURCE_DENIED", name: string, message: string, deps: readonly string[], cause?: unknown): SpindleError {
  return spindleError(code, message, { cause, details: { resource: name, deps: [...deps] } });
}

/** The UnavailableResource for `err` when it says `name` cannot be served now, else undefined. */
export function asUnavailable(name: string, err: unknown): UnavailableResource | undefined {
  if (!SpindleError.is(err, "ERR_XDS_RESOURCE_NOT_FOUND") && !SpindleError.is(err, "ERR_XDS_RESOURCE_DENIED")) return undefined;
  const deps = err.details["deps"];
  return { name, error: err, deps: Array.isArray(deps) ? deps.filter((d): d is string => typeof d === "string") : [] };
}

/** A stable, short content version of a packed resource. */
export function contentVersion(resource: Any): string {
  return createHash("sha256").update(resource.typeUrl).update(resource.value).digest("base64url").slice(0, 16);
}

// Change keys: the vocabulary between sources' change events and streams' dependencies.
export const svidKey = (spiffeId: string): string => `svid:${spiffeId}`;
/**
 * Any SVID issued or renewed. Only names waiting for a caller's first SVID depend on it: an entry
 * that syncs is an entitlement change, but its SVID is issued a moment later.
 */
export const ANY_SVID_KEY = "svid:*";
export const bundleKey = (trustDomain: string): string => `bundle:${trustDomain}`;
/** Any bundle change, or a federation change (names resolving to "all bundles"). */
export const ALL_BUNDLES_KEY = "bundles:*";
/** A change of which SVIDs/bundles callers are entitled to (e.g. `default` may now be another ID). */
export const ENTITLEMENTS_KEY = "entitlements";
export const extensionKey = (name: string): string => `extension:${name}`;
