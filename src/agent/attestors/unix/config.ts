// Configuration of the `unix` workload attestor (the `workload_attestors.unix` block of the agent
// config). Every problem is reported at once, with its key; unknown keys are errors.
import { spindleError } from "../../../common/errors.js";

export interface UnixAttestorConfig {
  /** Emit `unix:path` and `unix:sha256` selectors. Default true. */
  readonly discoverWorkloadPath: boolean;
  /** Executables larger than this (bytes) get no `unix:sha256` selector; 0 disables hashing. Default 64 MiB. */
  readonly workloadSizeLimit: number;
}

export const DEFAULT_WORKLOAD_SIZE_LIMIT = 64 * 1024 * 1024;
const KEYS = new Set(["discover_workload_path", "workload_size_limit"]);

/** Parses the raw (YAML-decoded) block; `undefined` or `null` means all defaults. */
export function parseUnixAttestorConfig(raw: unknown, path = "workload_attestors.unix"): UnixAttestorConfig {
  if (raw === undefined || raw === null) return Object.freeze({ discoverWorkloadPath: true, workloadSizeLimit: DEFAULT_WORKLOAD_SIZE_LIMIT });
  const problems: string[] = [];
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw spindleError("ERR_CONFIG_INVALID", `${path}: must be a mapping`, { details: { problems: [`${path}: must be a mapping`] } });
  }
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (!KEYS.has(key)) problems.push(`${path}.${key}: unknown key (known: ${[...KEYS].join(", ")})`);
  const discover = obj["discover_workload_path"] ?? true;
  if (typeof discover !== "boolean") problems.push(`${path}.discover_workload_path: must be true or false`);
  const limit = obj["workload_size_limit"] ?? DEFAULT_WORKLOAD_SIZE_LIMIT;
  if (typeof limit !== "number" || !Number.isSafeInteger(limit) || limit < 0) problems.push(`${path}.workload_size_limit: must be a non-negative integer (bytes)`);
  if (problems.length > 0) throw spindleError("ERR_CONFIG_INVALID", `invalid unix attestor configuration:\n  ${problems.join("\n  ")}`, { details: { problems } });
  return Object.freeze({ discoverWorkloadPath: discover as boolean, workloadSizeLimit: limit as number });
}
