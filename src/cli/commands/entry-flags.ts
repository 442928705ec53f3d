// Turns `spindle entry` flags into admin API messages: durations, selectors, expiry times.
import { spindleError } from "../../common/errors.js";
import type { Entry } from "../../gen/spindle/admin/v1/admin_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { EntrySchema, EntryFilterSchema } from "../../gen/spindle/admin/v1/admin_pb.js";
import { parseSelector } from "../../spiffe/index.js";
import { formatDuration, parseDurationSeconds } from "../config/duration.js";
import { toJson } from "@bufbuild/protobuf";
import { EntrySchema as EntryMessage } from "../../gen/spindle/admin/v1/admin_pb.js";
import { iso, withTimes } from "./admin-common.js";

export interface EntryFlags {
  id?: string;
  spiffeId?: string;
  parentId?: string;
  selector?: string[];
  x509Ttl?: string;
  jwtTtl?: string;
  dns?: string[];
  hint?: string;
  federatesWith?: string[];
  admin?: boolean;
  expiresAt?: string;
  matchSelectorsOn?: string;
}

export function ttlFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const s = parseDurationSeconds(value);
  if (s === undefined) throw spindleError("ERR_INVALID_ARGUMENT", `${flag}: "${value}" is not a duration (e.g. 90s, 5m, 1h)`);
  return s;
}

function expiresFlag(value: string | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  if (value === "never" || value === "0") return 0n;
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (!Number.isFinite(ms) || ms < 0) throw spindleError("ERR_INVALID_ARGUMENT", `--expires-at: "${value}" is neither an ISO 8601 time nor epoch seconds`);
  return BigInt(ms);
}

/** The entry message and the proto names of the fields the flags set (for updates). */
export function entryFromFlags(f: EntryFlags): { entry: MessageInitShape<typeof EntrySchema>; fields: string[] } {
  const entry: MessageInitShape<typeof EntrySchema> = {};
  const fields: string[] = [];
  const set = <K extends keyof Entry>(field: string, key: K, value: Entry[K] | undefined) => {
    if (value === undefined) return;
    (entry as Record<string, unknown>)[key as string] = value;
    fields.push(field);
  };
  if (f.id !== undefined) entry.id = f.id;
  set("spiffe_id", "spiffeId", f.spiffeId);
  set("parent_id", "parentId", f.parentId);
  if (f.selector !== undefined) set("selectors", "selectors", f.selector.map(parseSelector) as Entry["selectors"]);
  set("x509_svid_ttl", "x509SvidTtl", ttlFlag("--x509-ttl", f.x509Ttl));
  set("jwt_svid_ttl", "jwtSvidTtl", ttlFlag("--jwt-ttl", f.jwtTtl));
  set("dns_names", "dnsNames", f.dns);
  set("hint", "hint", f.hint);
  set("federates_with", "federatesWith", f.federatesWith);
  set("admin", "admin", f.admin);
  set("expires_at", "expiresAt", expiresFlag(f.expiresAt));
  return { entry, fields };
}

export function filterFromFlags(f: EntryFlags): MessageInitShape<typeof EntryFilterSchema> {
  const filter: MessageInitShape<typeof EntryFilterSchema> = {};
  if (f.spiffeId !== undefined) filter.spiffeId = f.spiffeId;
  if (f.parentId !== undefined) filter.parentId = f.parentId;
  if (f.selector !== undefined) filter.selectors = f.selector.map(parseSelector);
  if (f.federatesWith !== undefined) filter.federatesWith = f.federatesWith;
  if (f.matchSelectorsOn !== undefined) filter.matchSelectorsOn = f.matchSelectorsOn;
  return filter;
}

export function entryText(e: Entry): string {
  const lines = [
    `Entry ID         : ${e.id}`,
    `SPIFFE ID        : ${e.spiffeId}`,
    `Parent ID        : ${e.parentId}`,
    `Revision         : ${e.revision}`,
    `X509-SVID TTL    : ${e.x509SvidTtl === 0 ? "default" : formatDuration(e.x509SvidTtl)}`,
    `JWT-SVID TTL     : ${e.jwtSvidTtl === 0 ? "default" : formatDuration(e.jwtSvidTtl)}`,
    `Expires at       : ${iso(e.expiresAt)}`,
    ...e.selectors.map((s) => `Selector         : ${s.type}:${s.value}`),
    ...e.dnsNames.map((d) => `DNS name         : ${d}`),
    ...e.federatesWith.map((t) => `Federates with   : ${t}`),
  ];
  if (e.hint !== "") lines.push(`Hint             : ${e.hint}`);
  if (e.admin) lines.push("Admin            : true");
  return lines.join("\n") + "\n";
}

/** An entry as JSON output: the admin API's JSON form with RFC 3339 times. */
export function entryJson(e: Entry) {
  return withTimes(toJson(EntryMessage, e) as Record<string, unknown>, { expiresAt: e.expiresAt, createdAt: e.createdAt, updatedAt: e.updatedAt });
}
