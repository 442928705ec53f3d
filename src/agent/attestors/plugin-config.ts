// Reading a workload attestor's raw (YAML-decoded) config block: known keys with their kinds,
// every problem collected with its path (`workload_attestors.k8s.kubelet_url: ...`), unknown keys
// reported with the list of known ones. Plugins apply their defaults and cross-key rules on top.
import { spindleError } from "../../common/errors.js";

export type FieldKind = "string" | "boolean" | "positive-int" | "string-list";
type ValueOf<K extends FieldKind> = K extends "string" ? string : K extends "boolean" ? boolean : K extends "positive-int" ? number : readonly string[];
export type FieldValues<S extends Record<string, FieldKind>> = { [K in keyof S]?: ValueOf<S[K]> };

const MUST: Record<FieldKind, string> = {
  string: "must be a string",
  boolean: "must be true or false",
  "positive-int": "must be a positive integer",
  "string-list": "must be a list of non-empty strings",
};

function valid(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case "string":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    case "positive-int":
      return typeof v === "number" && Number.isSafeInteger(v) && v > 0;
    case "string-list":
      return Array.isArray(v) && v.every((s) => typeof s === "string" && s !== "");
  }
}

/**
 * Returns the set keys, typed (invalid ones left out). `extra` lets the plugin add its
 * own checks before one ERR_CONFIG_INVALID lists everything.
 */
export function readPluginConfig<S extends Record<string, FieldKind>>(
  raw: unknown,
  path: string,
  what: string,
  spec: S,
  extra?: (values: FieldValues<S>, problems: string[]) => void,
): FieldValues<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== "object" || Array.isArray(raw)) problems.push(`${path}: must be a mapping`);
    else {
      const known = Object.keys(spec);
      for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
        const kind = spec[key];
        if (kind === undefined) problems.push(`${path}.${key}: unknown key (known: ${known.join(", ")})`);
        else if (v === undefined || v === null) continue;
        else if (!valid(kind, v)) problems.push(`${path}.${key}: ${MUST[kind]}`);
        else out[key] = kind === "string-list" ? Object.freeze([...(v as string[])]) : v;
      }
    }
  }
  extra?.(out as FieldValues<S>, problems);
  if (problems.length > 0) throw spindleError("ERR_CONFIG_INVALID", `invalid ${what} configuration:\n  ${problems.join("\n  ")}`, { details: { problems } });
  return out as FieldValues<S>;
}
