// Where a cluster's service-account token signing keys come from: a JWK Set file, or the issuer's
// OIDC discovery document (`<issuer>/.well-known/openid-configuration` -> jwks_uri).
import { readFileSync } from "node:fs";
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { spindleError } from "../../../common/errors.js";
import { K8S_PSAT_PLUGIN, type K8sPsatClusterConfig } from "./config.js";

export type FetchFn = (url: string) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

export function readJwksFile(path: string): JSONWebKeySet {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw spindleError("ERR_CONFIG_READ", `${K8S_PSAT_PLUGIN}: cannot read JWK Set ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof doc !== "object" || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) {
    throw spindleError("ERR_CONFIG_INVALID", `${K8S_PSAT_PLUGIN}: ${path} is not a JWK Set (no "keys" array)`);
  }
  return doc as JSONWebKeySet;
}

/**
 * A key resolver for one cluster. Discovery runs on first use and is retried on the next
 * attestation if it fails (the issuer may be down when the server starts).
 */
export function createClusterKeySource(cluster: K8sPsatClusterConfig, fetchFn: FetchFn, jwks?: JSONWebKeySet): JWTVerifyGetKey {
  if (jwks !== undefined) return createLocalJWKSet(jwks);
  if (cluster.jwksPath !== undefined) return createLocalJWKSet(readJwksFile(cluster.jwksPath));
  const issuerUrl = cluster.issuerUrl!;
  let remote: Promise<JWTVerifyGetKey> | undefined;
  const discover = async (): Promise<JWTVerifyGetKey> => {
    const url = `${issuerUrl.replace(/\/$/, "")}/.well-known/openid-configuration`;
    const res = await fetchFn(url);
    if (!res.ok) throw new Error(`GET ${url} answered HTTP ${res.status}`);
    const doc = (await res.json()) as { jwks_uri?: unknown };
    if (typeof doc.jwks_uri !== "string") throw new Error(`${url} has no jwks_uri`);
    return createRemoteJWKSet(new URL(doc.jwks_uri));
  };
  return async (header, token) => {
    remote ??= discover().catch((err: unknown) => {
      remote = undefined;
      throw spindleError("ERR_NODE_ATTESTATION_FAILED", `${K8S_PSAT_PLUGIN}: cluster "${cluster.name}": key discovery failed: ${(err as Error).message}`, { cause: err });
    });
    return (await remote)(header, token);
  };
}
