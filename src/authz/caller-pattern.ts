// Caller patterns: exact SPIFFE IDs, path prefixes (`spiffe://td/ns/payments/*`) and whole trust
// domains (`spiffe://partner.org/*`). Matching is anchored on `spiffe://<td>/` so a pattern can
// never match another trust domain that merely shares a name prefix (envoy.config.rbac.v3.Principal
// `authenticated.principal_name`; docs/authz.md "Callers").
import { SpindleError } from "../common/errors.js";
import { parseSpiffeId } from "../spiffe/index.js";
import type { CallerPattern, SourcePos } from "./model.js";

export type ParsedPattern = { ok: true; pattern: CallerPattern } | { ok: false; message: string };

/** Parses one caller pattern; the message on failure says what is wrong and how to fix it. */
export function parseCallerPattern(text: string, pos: SourcePos): ParsedPattern {
  const wildcard = text.endsWith("/*");
  const idText = wildcard ? text.slice(0, -2) : text;
  const star = idText.indexOf("*");
  if (star !== -1) {
    return { ok: false, message: `caller pattern "${text}": '*' is only allowed as the whole last segment ("spiffe://td/ns/x/*")` };
  }
  let parsed;
  try {
    parsed = parseSpiffeId(idText);
  } catch (err) {
    const reason = err instanceof SpindleError ? `${err.message} (${err.code})` : String(err);
    return { ok: false, message: `caller pattern "${text}": ${reason}` };
  }
  const trustDomain = parsed.trustDomain.name;
  if (!wildcard) {
    if (parsed.isRoot) {
      return {
        ok: false,
        message: `caller "${text}" is a trust domain ID, not a workload; write "${text}/*" to allow every workload of ${trustDomain}`,
      };
    }
    return { ok: true, pattern: { kind: "exact", trustDomain, text, value: parsed.toString(), pos } };
  }
  const kind = parsed.isRoot ? "trust-domain" : "prefix";
  return { ok: true, pattern: { kind, trustDomain, text, value: `${parsed.toString()}/`, pos } };
}

/** True when every name `inner` matches is also matched by `outer`. */
export function patternCovers(outer: CallerPattern, inner: CallerPattern): boolean {
  if (outer.kind === "exact") return inner.kind === "exact" && inner.value === outer.value;
  return inner.value.startsWith(outer.value);
}
