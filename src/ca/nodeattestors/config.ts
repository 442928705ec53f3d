// Config parsing helpers shared by the node attestor plugins (server and agent side): every
// problem is collected with its key path and reported at once; unknown keys are errors.
import { spindleError } from "../../common/errors.js";

export interface ConfigReader {
  readonly problems: string[];
  /** The mapping at `path`, after reporting keys not in `known`. */
  mapping(raw: unknown, path: string, known: readonly string[]): Record<string, unknown> | undefined;
  string(obj: Record<string, unknown>, key: string, path: string, opts?: { required?: boolean; pattern?: RegExp; hint?: string }): string | undefined;
  stringList(obj: Record<string, unknown>, key: string, path: string): string[] | undefined;
  /** Throws ERR_CONFIG_INVALID listing every problem, if any. */
  done(what: string): void;
}

export function createConfigReader(): ConfigReader {
  const problems: string[] = [];
  return {
    problems,
    mapping(raw, path, known) {
      if (raw === undefined || raw === null) return {};
      if (typeof raw !== "object" || Array.isArray(raw)) {
        problems.push(`${path}: must be a mapping`);
        return undefined;
      }
      const obj = raw as Record<string, unknown>;
      for (const key of Object.keys(obj)) {
        if (!known.includes(key)) problems.push(`${path}.${key}: unknown key${known.length > 0 ? ` (known: ${known.join(", ")})` : " (this block takes no keys)"}`);
      }
      return obj;
    },
    string(obj, key, path, opts = {}) {
      const v = obj[key];
      if (v === undefined || v === null) {
        if (opts.required) problems.push(`${path}.${key}: required`);
        return undefined;
      }
      if (typeof v !== "string" || v === "") {
        problems.push(`${path}.${key}: must be a non-empty string`);
        return undefined;
      }
      if (opts.pattern && !opts.pattern.test(v)) {
        problems.push(`${path}.${key}: ${JSON.stringify(v)} ${opts.hint ?? `does not match ${opts.pattern}`}`);
        return undefined;
      }
      return v;
    },
    stringList(obj, key, path) {
      const v = obj[key];
      if (v === undefined || v === null) return undefined;
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "")) {
        problems.push(`${path}.${key}: must be a list of non-empty strings`);
        return undefined;
      }
      return v as string[];
    },
    done(what) {
      if (problems.length > 0) {
        throw spindleError("ERR_CONFIG_INVALID", `invalid ${what} configuration:\n  ${problems.join("\n  ")}`, { details: { problems: [...problems] } });
      }
    },
  };
}

/** Decodes a JSON object payload; anything else is ERR_NODE_ATTESTATION_PROTOCOL. */
export function decodeJsonPayload(payload: Uint8Array, plugin: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(payload).toString("utf8"));
  } catch {
    throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${plugin}: the attestation payload is not JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${plugin}: the attestation payload must be a JSON object`);
  return v as Record<string, unknown>;
}

export function attestationFailed(plugin: string, why: string, cause?: unknown) {
  return spindleError("ERR_NODE_ATTESTATION_FAILED", `${plugin} attestation failed: ${why}`, cause === undefined ? {} : { cause });
}
