// The selectors Spindle's attestors emit, by type and key, with the value format of each key. The
// workload attestors (src/agent/attestors) and node attestors (src/ca/nodeattestors) build their
// selectors through `selectorOf`, whose key parameter is typed from this table, so an attestor
// cannot emit a key the table does not list; registration checks entry selectors against the same
// table (docs/workload-attestors.md, docs/node-attestation.md).
import { isSpiffeId } from "./spiffe-id.js";
import { quote } from "./quote.js";
import type { Selector } from "./selector.js";

interface ValueFormat {
  /** What the value must be, for error messages ("a non-negative integer"). */
  readonly describe: string;
  readonly test: (value: string) => boolean;
}

const fmt = (describe: string, test: (v: string) => boolean): ValueFormat => Object.freeze({ describe, test });
const re = (describe: string, pattern: RegExp): ValueFormat => fmt(describe, (v) => pattern.test(v));

const MAX_UINT32 = 4_294_967_295;
const uint32 = fmt(`a non-negative integer (0-${MAX_UINT32}) without sign or leading zeros`, (v) => /^(0|[1-9][0-9]{0,9})$/.test(v) && Number(v) <= MAX_UINT32);
// passwd(5) / group(5) names: colon-separated files, so no ':'; no whitespace either.
const accountName = re("a user or group name (no ':' or whitespace)", /^[^\s:]{1,256}$/);
const absolutePath = fmt("an absolute path", (v) => v.startsWith("/") && !/[\0\n]/.test(v));
const sha256Hex = re("64 lower-case hex digits (a SHA-256)", /^[0-9a-f]{64}$/);
// Kubernetes object names (DNS-1123 label / subdomain; lower case only).
const K8S_LABEL = "[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?";
const dnsLabel = re("a DNS-1123 label (lower-case alphanumerics and '-', at most 63)", new RegExp(`^${K8S_LABEL}$`));
const dnsSubdomain = fmt("a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.', at most 253)", (v) => v.length <= 253 && new RegExp(`^${K8S_LABEL}(?:\\.${K8S_LABEL})*$`).test(v));
// Pod and node UIDs are RFC 4122 UUIDs; static pods have a 32-hex-digit hash instead.
const k8sUid = re("a lower-case UUID (or the 32 hex digits of a static pod)", /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/);
const LABEL_NAME = "[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";
const podLabel = fmt("<label key>:<label value> (a Kubernetes label: [prefix/]name, value empty or at most 63 of [A-Za-z0-9_.-])", (v) => {
  const colon = v.indexOf(":");
  if (colon === -1) return false;
  const key = v.slice(0, colon);
  const value = v.slice(colon + 1);
  const slash = key.lastIndexOf("/");
  const prefixOk = slash === -1 || dnsSubdomain.test(key.slice(0, slash));
  return prefixOk && new RegExp(`^${LABEL_NAME}$`).test(key.slice(slash + 1)) && (value === "" || new RegExp(`^${LABEL_NAME}$`).test(value));
});
const noSpace = re("a non-empty value without whitespace", /^\S+$/);
const anyValue = fmt("a non-empty value", (v) => v !== "");
const keyValue = (what: string) => fmt(`<${what}>:<value> (${what} non-empty, without ':', '=' or whitespace; value may be empty)`, (v) => /^[^\s:=]+:/.test(v));
const dockerImageId = re("sha256:<64 lower-case hex digits>", /^sha256:[0-9a-f]{64}$/);
const lowerHex = re("lower-case hex digits", /^[0-9a-f]+$/);
const clusterName = re("a cluster name (1-63 of [A-Za-z0-9._-])", /^[A-Za-z0-9._-]{1,63}$/);
const spiffeId = fmt("a SPIFFE ID (spiffe://<trust domain>/<path>)", (v) => isSpiffeId(v));

/**
 * x509pop subject attributes: OID -> selector name (lower-cased short names of RFC 4519 / RFC 4524
 * / PKCS #9). Each becomes the key `subject:<name>`.
 */
export const X509POP_SUBJECT_ATTRIBUTES = Object.freeze({
  "2.5.4.3": "cn",
  "2.5.4.5": "serialnumber",
  "2.5.4.6": "c",
  "2.5.4.7": "l",
  "2.5.4.8": "st",
  "2.5.4.9": "street",
  "2.5.4.10": "o",
  "2.5.4.11": "ou",
  "2.5.4.17": "postalcode",
  "0.9.2342.19200300.100.1.1": "uid",
  "0.9.2342.19200300.100.1.25": "dc",
  "1.2.840.113549.1.9.1": "emailaddress",
} as const);
export type X509PopSubjectAttribute = (typeof X509POP_SUBJECT_ATTRIBUTES)[keyof typeof X509POP_SUBJECT_ATTRIBUTES];
type SubjectKey = `subject:${X509PopSubjectAttribute}`;
const subjectKeys = Object.fromEntries(Object.values(X509POP_SUBJECT_ATTRIBUTES).map((n) => [`subject:${n}`, anyValue])) as Record<SubjectKey, ValueFormat>;

const SCHEMA = {
  unix: {
    kind: "workload",
    keys: { uid: uint32, user: accountName, gid: uint32, group: accountName, supplementary_gid: uint32, supplementary_group: accountName, path: absolutePath, sha256: sha256Hex },
  },
  k8s: {
    kind: "workload",
    keys: {
      ns: dnsLabel,
      sa: dnsSubdomain,
      "pod-name": dnsSubdomain,
      "pod-uid": k8sUid,
      "node-name": dnsSubdomain,
      "pod-label": podLabel,
      "container-name": dnsLabel,
      "container-image": noSpace,
    },
  },
  docker: { kind: "workload", keys: { label: keyValue("label key"), image_id: dockerImageId, env: keyValue("variable name") } },
  join_token: { kind: "node", keys: { spiffe_id: spiffeId } },
  x509pop: {
    kind: "node",
    keys: { ...subjectKeys, "ca:fingerprint": sha256Hex, "san:dns": noSpace, "san:uri": noSpace, serialnumber: lowerHex },
  },
  k8s_psat: {
    kind: "node",
    keys: {
      cluster: clusterName,
      agent_ns: dnsLabel,
      agent_sa: dnsSubdomain,
      agent_pod_name: dnsSubdomain,
      agent_pod_uid: k8sUid,
      agent_node_name: dnsSubdomain,
      agent_node_uid: k8sUid,
    },
  },
} as const satisfies Record<string, { kind: "workload" | "node"; keys: Record<string, ValueFormat> }>;

export type SelectorType = keyof typeof SCHEMA;
export type SelectorKey<T extends SelectorType> = keyof (typeof SCHEMA)[T]["keys"] & string;
/** Workload selectors come from workload attestors; node selectors from node attestors. */
export type SelectorKind = "workload" | "node";

export const SELECTOR_TYPES = Object.freeze(Object.keys(SCHEMA) as SelectorType[]);

export function isKnownSelectorType(type: string): type is SelectorType {
  return Object.hasOwn(SCHEMA, type);
}

export function selectorKind(type: SelectorType): SelectorKind {
  return SCHEMA[type].kind;
}

/** The accepted keys of a known type, in table order. */
export function selectorKeys(type: SelectorType): string[] {
  return Object.keys(SCHEMA[type].keys);
}

/** The format a key's values must have, for documentation and messages. */
export function selectorValueFormat(type: SelectorType, key: string): string | undefined {
  return (SCHEMA[type].keys as Record<string, ValueFormat>)[key]?.describe;
}

/** Builds `type:key:rest`; what attestors use so that only listed keys can be emitted. */
export function selectorOf<T extends SelectorType>(type: T, key: SelectorKey<T>, rest: string): Selector {
  return { type, value: `${key}:${rest}` };
}

/** The longest listed key that `value` starts with (followed by ':'). */
function keyOf(type: SelectorType, value: string): string | undefined {
  let best: string | undefined;
  for (const k of Object.keys(SCHEMA[type].keys)) if (value.startsWith(`${k}:`) && (best === undefined || k.length > best.length)) best = k;
  return best;
}

export type SelectorProblem =
  | { readonly kind: "unknown-type"; readonly message: string }
  | { readonly kind: "unknown-key"; readonly message: string }
  | { readonly kind: "bad-value"; readonly message: string };

/**
 * What is wrong with a selector, or undefined when it is one Spindle's attestors can emit. An
 * unknown type or key is reported as such (callers may accept those on request); a known key with
 * a malformed value can never match and is always a problem.
 */
export function selectorProblem(s: Selector): SelectorProblem | undefined {
  const shown = quote(`${s.type}:${s.value}`);
  if (!isKnownSelectorType(s.type)) {
    const list = (kind: SelectorKind) => SELECTOR_TYPES.filter((t) => SCHEMA[t].kind === kind).join(", ");
    return { kind: "unknown-type", message: `selector ${shown}: unknown selector type ${quote(s.type)}; known types: ${list("workload")} (workload), ${list("node")} (node)` };
  }
  const key = keyOf(s.type, s.value);
  if (key === undefined) {
    const colon = s.value.indexOf(":");
    const given = colon === -1 ? s.value : s.value.slice(0, colon);
    return { kind: "unknown-key", message: `selector ${shown}: unknown ${s.type} key ${quote(given)}; accepted keys: ${selectorKeys(s.type).join(", ")}` };
  }
  const rest = s.value.slice(key.length + 1);
  const format = (SCHEMA[s.type].keys as Record<string, ValueFormat>)[key]!;
  if (!format.test(rest)) return { kind: "bad-value", message: `selector ${shown}: the value of ${s.type}:${key} must be ${format.describe}, got ${quote(rest)}` };
  return undefined;
}
