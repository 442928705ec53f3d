// The interfaces SDS and ECDS need from the rest of the agent, declared here by their consumer
// so this folder never imports the agent, the CA or their caches. The agent implements
// them over its SVID cache and its workload attestors; tests implement them over test certificates.
import type { Any } from "@bufbuild/protobuf/wkt";
import type { PeerCredentials } from "../transport/peer-cred.js";

/** The process on the other end of a stream, as the workload attestors see it. */
export interface Caller {
  readonly peer: PeerCredentials;
  /** Selectors such as `unix:uid:1000`; logged with every error so operators can fix entries. */
  readonly selectors: readonly string[];
}

/** Attests the caller from its kernel-reported credentials (PID-reuse checks are its job). */
export interface CallerAttestor {
  attest(peer: PeerCredentials): Promise<Caller>;
}

/** One X.509-SVID with its key. DER values; the key never leaves memory and is never logged. */
export interface X509SvidMaterial {
  readonly spiffeId: string;
  /** Leaf first, then intermediates; never the root. */
  readonly certChainDer: readonly Uint8Array[];
  /** Unencrypted PKCS#8. */
  readonly privateKeyPkcs8Der: Uint8Array;
}

/** The X.509 authorities of one trust domain. `trustDomain` has no scheme ("example.org"). */
export interface TrustBundleMaterial {
  readonly trustDomain: string;
  readonly x509AuthoritiesDer: readonly Uint8Array[];
}

/** What a caller may see of the bundles: its own trust domain's and the federated ones. */
export interface CallerBundles {
  readonly own: TrustBundleMaterial;
  readonly federated: readonly TrustBundleMaterial[];
}

/**
 * Which secrets changed. The source must return NEW objects for changed material and the SAME
 * objects for unchanged material: SDS caches built secrets by object identity.
 */
export interface SecretChange {
  /** SPIFFE IDs whose SVID (chain or key) changed. */
  readonly svids?: readonly string[];
  /** Trust domains (no scheme) whose bundle changed, was added or was removed. */
  readonly trustDomains?: readonly string[];
  /** Set when which SVIDs or federated bundles callers are entitled to may have changed. */
  readonly entitlements?: boolean;
}

/**
 * Methods may throw a SpindleError: its gRPC status ends the stream. Until the agent's first sync
 * they must throw a code reported as UNAVAILABLE (the agent's source throws
 * ERR_WORKLOAD_API_NOT_READY), never answer "no SVIDs", so Envoy retries instead of being denied;
 * anything else unexpected becomes INTERNAL, cause logged.
 */
export interface SecretSource {
  /** The SVIDs the caller is entitled to; the first one is its default identity. */
  svidsFor(caller: Caller): readonly X509SvidMaterial[] | Promise<readonly X509SvidMaterial[]>;
  /** The bundles the caller may see. */
  bundlesFor(caller: Caller): CallerBundles | Promise<CallerBundles>;
  /** Registers a change listener; returns the function that removes it. */
  onChange(listener: (change: SecretChange) => void): () => void;
}

/** ECDS: named extension configs (e.g. compiled RBAC filters), possibly different per caller. */
export interface ExtensionConfigSource {
  /** The typed_config for `name`, or undefined when there is no such config (for this caller). */
  get(name: string, caller: Caller): Any | undefined | Promise<Any | undefined>;
  /** Registers a listener called with the names whose config changed. */
  onChange(listener: (names: readonly string[]) => void): () => void;
}
