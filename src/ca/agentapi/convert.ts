// Domain values to agent API messages.
import { create } from "@bufbuild/protobuf";
import { X509Certificate } from "node:crypto";
import { EntrySchema, X509SvidSchema, type Entry, type X509Svid } from "../../gen/spindle/agent/v1/agent_pb.js";
import type { MintedX509Svid } from "../contracts.js";
import type { RegistrationEntry } from "../registration/entry.js";

export function entryToProto(e: RegistrationEntry): Entry {
  return create(EntrySchema, {
    id: e.id,
    spiffeId: e.spiffeId,
    parentId: e.parentId,
    selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509SvidTtl: e.x509SvidTtl,
    jwtSvidTtl: e.jwtSvidTtl,
    dnsNames: [...e.dnsNames],
    hint: e.hint,
    federatesWith: [...e.federatesWith],
    revision: BigInt(e.revision),
  });
}

export function svidToProto(s: MintedX509Svid): X509Svid {
  return create(X509SvidSchema, { spiffeId: s.spiffeId, certChain: s.chain, expiresAt: BigInt(s.notAfter), authorityId: s.authorityId });
}

/** The leaf serial as node:crypto reports it (lower case), the form peer authentication compares. */
export function leafSerial(s: MintedX509Svid): string {
  return new X509Certificate(s.chain[0]!).serialNumber.toLowerCase();
}
