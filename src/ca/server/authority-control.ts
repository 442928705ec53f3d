// Adapts the CA's authority management to the admin API's AuthorityControl.
import { spindleError } from "../../common/errors.js";
import type { JwtAuthorityRecord, X509AuthorityRecord } from "../contracts.js";
import type { ManagedCertificateAuthority } from "../authority/index.js";
import type { AuthorityControl, AuthorityInfo, AuthorityKind } from "../admin/index.js";

function info(kind: AuthorityKind, r: X509AuthorityRecord | JwtAuthorityRecord): AuthorityInfo {
  const id = "kid" in r ? r.kid : r.id;
  return { kind, id, state: r.state, notBefore: r.notBefore, notAfter: r.notAfter, tainted: r.tainted, serverId: r.serverId };
}

export function createAuthorityControl(ca: ManagedCertificateAuthority): AuthorityControl {
  const records = (kind: AuthorityKind) => (kind === "x509" ? ca.show().x509 : ca.show().jwt);
  return {
    async list() {
      const j = ca.show();
      return [...j.x509.map((r) => info("x509", r)), ...j.jwt.map((r) => info("jwt", r))];
    },
    prepare: async (kind) => info(kind, await ca.prepare(kind)),
    async activate(kind) {
      const prepared = records(kind).find((r) => r.state === "prepared");
      if (!prepared) throw spindleError("ERR_NOT_FOUND", `no prepared ${kind} authority to activate; run \`spindle authority prepare --kind ${kind}\` first`);
      return info(kind, await ca.activate(kind, "kid" in prepared ? prepared.kid : prepared.id));
    },
    taint: async (kind, id) => info(kind, await ca.taint(kind, id)),
    revoke: async (kind, id) => info(kind, await ca.revoke(kind, id)),
  };
}
