// Admin API handlers of federation relationships: message <-> manager translation only; the
// manager validates (every problem listed, nothing stored on error) and refuses writes to
// relationships that come from the config file.
import { spindleError } from "../../common/errors.js";
import type { FederationRelationship as RelationshipMessage, FederationRelationshipRequest } from "../../gen/spindle/admin/v1/admin_pb.js";
import type { FederationManager, RelationshipInput, RelationshipView } from "../federation/index.js";

function inputOf(m: RelationshipMessage, i?: number): RelationshipInput {
  const where = i === undefined ? "trust_domain_bundle" : `relationships[${i}].trust_domain_bundle`;
  if (m.trustDomainBundle !== "" && m.trustDomainBundleFormat === "") {
    throw spindleError("ERR_FEDERATION_RELATIONSHIP_INVALID", `${where}: trust_domain_bundle_format ("spiffe" or "pem") is required with a bundle`);
  }
  return {
    trustDomain: m.trustDomain,
    bundleEndpointUrl: m.bundleEndpointUrl,
    profile: m.bundleEndpointProfile,
    endpointSpiffeId: m.endpointSpiffeId,
    caFile: m.caFile,
    ...(m.trustDomainBundle !== "" ? { bootstrap: { content: m.trustDomainBundle, format: m.trustDomainBundleFormat, origin: where } } : {}),
  };
}

function toMessage(v: RelationshipView) {
  const r = v.relationship;
  const s = v.status;
  const b = v.bundle;
  return {
    trustDomain: r.trustDomain,
    bundleEndpointUrl: r.bundleEndpointUrl,
    bundleEndpointProfile: r.profile,
    endpointSpiffeId: r.endpointSpiffeId,
    caFile: r.caFile,
    source: r.source,
    status: {
      lastAttemptAt: BigInt(s.lastAttemptAt ?? 0),
      lastSuccessAt: BigInt(s.lastSuccessAt ?? 0),
      lastErrorAt: BigInt(s.lastError?.at ?? 0),
      lastErrorReason: s.lastError?.reason ?? "",
      lastError: s.lastError?.message ?? "",
      nextAttemptAt: BigInt(s.nextAttemptAt ?? 0),
      hasBundle: b !== undefined,
      ...(b?.sequence !== undefined ? { bundleSequence: BigInt(b.sequence) } : {}),
      ...(b?.refreshHintSeconds !== undefined ? { bundleRefreshHint: BigInt(b.refreshHintSeconds) } : {}),
      x509Authorities: b?.x509Authorities ?? 0,
      jwtAuthorities: b?.jwtAuthorities ?? 0,
      bundleUpdatedAt: BigInt(b?.updatedAt ?? 0),
    },
  };
}

function trustDomainOf(req: FederationRelationshipRequest): string {
  if (req.trustDomain === "") throw spindleError("ERR_INVALID_ARGUMENT", "trust_domain: is required");
  return req.trustDomain;
}

export function createFederationHandlers(manager: FederationManager | undefined) {
  const m = (): FederationManager => {
    if (!manager) throw spindleError("ERR_UNAVAILABLE", "federation is not running on this server");
    return manager;
  };
  return {
    createFederationRelationships: async (req: { relationships: RelationshipMessage[] }) => {
      if (req.relationships.length === 0) throw spindleError("ERR_INVALID_ARGUMENT", "relationships: at least one relationship is required");
      return { relationships: (await m().create(req.relationships.map((r, i) => inputOf(r, req.relationships.length > 1 ? i : undefined)))).map(toMessage) };
    },
    updateFederationRelationship: async (req: RelationshipMessage) => toMessage(await m().update(inputOf(req))),
    listFederationRelationships: async () => ({ relationships: (await m().list()).map(toMessage) }),
    getFederationRelationship: async (req: FederationRelationshipRequest) => toMessage(await m().get(trustDomainOf(req))),
    deleteFederationRelationship: async (req: FederationRelationshipRequest) => toMessage(await m().delete(trustDomainOf(req))),
    refreshFederationRelationship: async (req: FederationRelationshipRequest) => toMessage(await m().refresh(trustDomainOf(req))),
  };
}
