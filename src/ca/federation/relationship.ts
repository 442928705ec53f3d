// Federation relationship parameters (SPIFFE Federation section 5.1: URL, profile and trust
// domain, all explicit; section 5.2.2.2: https_spiffe adds the endpoint SPIFFE ID and a bootstrap
// bundle). Validation collects every problem so the operator sees them all at once; nothing is
// inferred (the trust domain never comes from the URL host) and nothing is defaulted between
// profiles.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { spindleError } from "../../common/errors.js";
import { pemToDers } from "../../common/pem.js";
import { createBundle, decodeSpiffeBundle, encodeSpiffeBundle, parseSpiffeId, parseTrustDomain, type Bundle } from "../../spiffe/index.js";
import type { BundleEndpointProfile } from "../datastore/index.js";
import { trustDomainProblem } from "../registration/index.js";

export const BUNDLE_ENDPOINT_PROFILES: readonly BundleEndpointProfile[] = ["https_web", "https_spiffe"];
export type BootstrapFormat = "spiffe" | "pem";
const MAX_URL_LENGTH = 2048;

/** A validated relationship, as the refresher uses it. */
export interface FederationRelationship {
  readonly trustDomain: string;
  readonly bundleEndpointUrl: string;
  readonly profile: BundleEndpointProfile;
  /** https_spiffe only ("" for https_web). */
  readonly endpointSpiffeId: string;
  /** https_web only: a PEM file of roots; "" = the system roots. */
  readonly caFile: string;
  /** Config relationships win over API ones and cannot be changed through the API. */
  readonly source: "config" | "api";
}

/** Untrusted input, from the config file or the admin API. */
export interface RelationshipInput {
  trustDomain: string;
  bundleEndpointUrl: string;
  profile: string;
  endpointSpiffeId?: string;
  caFile?: string;
  /** The bootstrap bundle's content, its format and where it came from (for messages). */
  bootstrap?: { content: string; format: string; origin: string };
}

export interface ValidatedRelationship {
  relationship: FederationRelationship;
  /** The bootstrap bundle re-encoded as SPIFFE JSON (what the datastore stores). */
  bootstrapBundle?: string;
}

/** SPIFFE Federation sections 5.2.1.1 / 5.2.2.1: https, no userinfo; the rest is unconstrained. */
export function bundleEndpointUrlProblem(value: string): string | undefined {
  if (value.length > MAX_URL_LENGTH) return `is longer than ${MAX_URL_LENGTH} characters`;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return `${JSON.stringify(value)} is not a URL`;
  }
  if (u.protocol !== "https:") return `${JSON.stringify(value)} must use https (a bundle endpoint is always HTTPS)`;
  if (u.username !== "" || u.password !== "") return `${JSON.stringify(value)} must not include userinfo`;
  if (u.hostname === "") return `${JSON.stringify(value)} has no host`;
  return undefined;
}

/** Parses a bootstrap bundle for `trustDomain`: SPIFFE bundle JSON or PEM CA certificates. */
export function parseBootstrapBundle(trustDomain: string, content: string, format: string, origin: string): Bundle {
  const td = parseTrustDomain(trustDomain);
  if (format === "spiffe") {
    try {
      return decodeSpiffeBundle(td, content);
    } catch (err) {
      throw spindleError("ERR_BUNDLE_INVALID", `${origin}: not a SPIFFE bundle (format spiffe): ${(err as Error).message}`, { cause: err });
    }
  }
  if (format === "pem") {
    let ders: Buffer[];
    try {
      ders = pemToDers(content, "CERTIFICATE");
      for (const d of ders) new X509Certificate(d);
    } catch (err) {
      throw spindleError("ERR_BUNDLE_INVALID", `${origin}: not PEM CA certificates (format pem): ${(err as Error).message}`, { cause: err });
    }
    return createBundle({ trustDomain: td, x509Authorities: ders });
  }
  throw spindleError("ERR_INVALID_ARGUMENT", `${origin}: bundle format must be "spiffe" or "pem", got ${JSON.stringify(format)}`);
}

function caFileProblem(path: string): string | undefined {
  try {
    pemToDers(readFileSync(path, "utf8"), "CERTIFICATE").forEach((d) => new X509Certificate(d));
    return undefined;
  } catch (err) {
    return `${path}: ${(err as Error).message}`;
  }
}

/** Every problem of `input`, each prefixed with the field it concerns (as named by `field`). */
export function relationshipProblems(input: RelationshipInput, ownTrustDomain: string, field: (name: string) => string): { problems: string[]; bootstrap?: Bundle } {
  const problems: string[] = [];
  const tdProblem = trustDomainProblem(input.trustDomain);
  if (tdProblem) problems.push(`${field("trust_domain")}: ${tdProblem}`);
  else if (input.trustDomain === ownTrustDomain) problems.push(`${field("trust_domain")}: "${input.trustDomain}" is the server's own trust domain`);
  if (input.bundleEndpointUrl === "") problems.push(`${field("bundle_endpoint_url")}: is required`);
  else {
    const p = bundleEndpointUrlProblem(input.bundleEndpointUrl);
    if (p) problems.push(`${field("bundle_endpoint_url")}: ${p}`);
  }
  const endpointId = input.endpointSpiffeId ?? "";
  const caFile = input.caFile ?? "";
  if (input.profile === "https_spiffe") {
    if (endpointId === "") problems.push(`${field("endpoint_spiffe_id")}: is required for the https_spiffe profile`);
    else {
      try {
        const id = parseSpiffeId(endpointId);
        if (id.trustDomain.name === ownTrustDomain) problems.push(`${field("endpoint_spiffe_id")}: "${endpointId}" is in the server's own trust domain; a bundle endpoint of a foreign trust domain is served by that domain or by another federated one`);
      } catch (err) {
        problems.push(`${field("endpoint_spiffe_id")}: ${(err as Error).message}`);
      }
    }
    if (caFile !== "") problems.push(`${field("ca_file")}: applies to the https_web profile only (https_spiffe authenticates the endpoint with the SPIFFE bundle)`);
  } else if (input.profile === "https_web") {
    if (endpointId !== "") problems.push(`${field("endpoint_spiffe_id")}: applies to the https_spiffe profile only (https_web authenticates the endpoint's host name)`);
    if (caFile !== "") {
      const p = caFileProblem(caFile);
      if (p) problems.push(`${field("ca_file")}: ${p}`);
    }
  } else {
    problems.push(`${field("bundle_endpoint_profile")}: must be "https_web" or "https_spiffe", got ${JSON.stringify(input.profile)}`);
  }
  let bootstrap: Bundle | undefined;
  if (input.bootstrap !== undefined && !tdProblem) {
    try {
      bootstrap = parseBootstrapBundle(input.trustDomain, input.bootstrap.content, input.bootstrap.format, input.bootstrap.origin);
    } catch (err) {
      problems.push(`${field("trust_domain_bundle")}: ${(err as Error).message}`);
    }
  }
  return bootstrap ? { problems, bootstrap } : { problems };
}

/** Validates one relationship; throws ERR_FEDERATION_RELATIONSHIP_INVALID listing every problem. */
export function validateRelationship(input: RelationshipInput, ownTrustDomain: string, source: "config" | "api"): ValidatedRelationship {
  const { problems, bootstrap } = relationshipProblems(input, ownTrustDomain, (f) => f);
  if (problems.length > 0) {
    throw spindleError("ERR_FEDERATION_RELATIONSHIP_INVALID", `federation relationship "${input.trustDomain}" is invalid: ${problems.join("; ")}`, {
      details: { trustDomain: input.trustDomain, problems },
    });
  }
  const relationship: FederationRelationship = Object.freeze({
    trustDomain: input.trustDomain,
    bundleEndpointUrl: input.bundleEndpointUrl,
    profile: input.profile as BundleEndpointProfile,
    endpointSpiffeId: input.endpointSpiffeId ?? "",
    caFile: input.caFile ?? "",
    source,
  });
  return bootstrap ? { relationship, bootstrapBundle: encodeSpiffeBundle(bootstrap) } : { relationship };
}

/** The trust domain whose bundle authenticates the endpoint (section 5.2.2.4), for https_spiffe. */
export function endpointTrustDomain(r: FederationRelationship): string | undefined {
  return r.profile === "https_spiffe" ? parseSpiffeId(r.endpointSpiffeId).trustDomain.name : undefined;
}
