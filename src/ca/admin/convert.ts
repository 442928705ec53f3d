// Conversions between the admin API's protobuf messages and the registration model. Untrusted
// numbers (int64 arrive as bigint) are checked here; everything else is validated downstream.
import { create } from "@bufbuild/protobuf";
import { spindleError } from "../../common/errors.js";
import {
  EntrySchema,
  type Entry as PbEntry,
  type EntryFilter as PbEntryFilter,
  type Selector as PbSelector,
} from "../../gen/spindle/admin/v1/admin_pb.js";
import { SELECTOR_MATCHES, type EntryFilter } from "../datastore/index.js";
import type { EntryField, EntryInput, RegistrationEntry, Selector } from "../registration/index.js";

/** Proto field names accepted in UpdateEntryRequest.fields. */
export const PROTO_FIELD_NAMES: Readonly<Record<string, EntryField>> = {
  spiffe_id: "spiffeId",
  parent_id: "parentId",
  selectors: "selectors",
  x509_svid_ttl: "x509SvidTtl",
  jwt_svid_ttl: "jwtSvidTtl",
  dns_names: "dnsNames",
  hint: "hint",
  federates_with: "federatesWith",
  admin: "admin",
  expires_at: "expiresAt",
};

export function fieldsFromProto(names: readonly string[]): EntryField[] {
  const unknown = names.filter((n) => !Object.hasOwn(PROTO_FIELD_NAMES, n));
  if (unknown.length > 0) {
    throw spindleError("ERR_INVALID_ARGUMENT", `unknown entry field(s) ${unknown.map((n) => JSON.stringify(n)).join(", ")}; known: ${Object.keys(PROTO_FIELD_NAMES).join(", ")}`);
  }
  return names.map((n) => PROTO_FIELD_NAMES[n]!);
}

function int64(value: bigint, field: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) throw spindleError("ERR_INVALID_ARGUMENT", `${field} is out of range: ${value}`);
  return Number(value);
}

export function selectorsFromProto(list: readonly PbSelector[]): Selector[] {
  return list.map((s) => ({ type: s.type, value: s.value }));
}

export function entryInputFromProto(e: PbEntry | undefined): EntryInput {
  if (!e) throw spindleError("ERR_INVALID_ARGUMENT", "entry is missing from the request");
  return {
    spiffeId: e.spiffeId,
    parentId: e.parentId,
    selectors: selectorsFromProto(e.selectors),
    x509SvidTtl: e.x509SvidTtl,
    jwtSvidTtl: e.jwtSvidTtl,
    dnsNames: e.dnsNames,
    hint: e.hint,
    federatesWith: e.federatesWith,
    admin: e.admin,
    expiresAt: int64(e.expiresAt, "entry.expires_at"),
  };
}

export function entryToProto(e: RegistrationEntry): PbEntry {
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
    admin: e.admin,
    expiresAt: BigInt(e.expiresAt),
    revision: BigInt(e.revision),
    createdAt: BigInt(e.createdAt),
    updatedAt: BigInt(e.updatedAt),
  });
}

export function filterFromProto(f: PbEntryFilter | undefined): EntryFilter {
  if (!f) return {};
  const out: EntryFilter = {};
  if (f.spiffeId !== "") out.spiffeId = f.spiffeId;
  if (f.parentId !== "") out.parentId = f.parentId;
  if (f.selectors.length > 0) {
    const bad = f.selectors.find((s) => s.type === "" || s.value === "");
    if (bad) throw spindleError("ERR_SELECTOR_INVALID", `filter selector "${bad.type}:${bad.value}" needs a non-empty type and value`);
    out.selectors = selectorsFromProto(f.selectors);
  }
  if (f.federatesWith.length > 0) out.federatesWith = [...f.federatesWith];
  if (f.matchSelectorsOn !== "") {
    const m = SELECTOR_MATCHES.find((x) => x === f.matchSelectorsOn);
    if (m === undefined) throw spindleError("ERR_INVALID_ARGUMENT", `match_selectors_on must be one of ${SELECTOR_MATCHES.join(", ")}, got ${JSON.stringify(f.matchSelectorsOn)}`);
    out.selectorMatch = m;
  }
  return out;
}
