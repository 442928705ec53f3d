// The agent side of a node attestor (one folder per plugin, mirroring src/ca/nodeattestors):
// produces the evidence the server's plugin verifies and answers its challenges.
import { spindleError } from "../../common/errors.js";

export interface AgentNodeAttestor {
  readonly name: string;
  /** The evidence sent in AttestationParams.payload. */
  payload(): Promise<Uint8Array>;
  /** Answers a server challenge; plugins without challenges reject with ERR_NODE_ATTESTATION_PROTOCOL. */
  answer(challenge: Uint8Array): Promise<Uint8Array>;
}

export function noChallenges(plugin: string): (challenge: Uint8Array) => Promise<Uint8Array> {
  return async () => {
    throw spindleError("ERR_NODE_ATTESTATION_PROTOCOL", `${plugin}: the server sent a challenge, but this attestor never expects one`);
  };
}

export const jsonBytes = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), "utf8");

/** Reads one agent plugin block: unknown keys and every bad value are reported together. */
export function readAgentConfig(
  raw: unknown,
  path: string,
  fields: Record<string, { required?: boolean }>,
  what: string,
): Record<string, string | undefined> {
  const problems: string[] = [];
  const out: Record<string, string | undefined> = {};
  if (raw !== undefined && raw !== null && (typeof raw !== "object" || Array.isArray(raw))) problems.push(`${path}: must be a mapping`);
  const obj = (typeof raw === "object" && raw !== null && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (!(key in fields)) problems.push(`${path}.${key}: unknown key (known: ${Object.keys(fields).join(", ")})`);
  for (const [key, spec] of Object.entries(fields)) {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (spec.required && problems.every((p) => !p.endsWith("must be a mapping"))) problems.push(`${path}.${key}: required`);
    } else if (typeof v !== "string" || v === "") problems.push(`${path}.${key}: must be a non-empty string`);
    else out[key] = v;
  }
  if (problems.length > 0) throw spindleError("ERR_CONFIG_INVALID", `invalid ${what} configuration:\n  ${problems.join("\n  ")}`, { details: { problems } });
  return out;
}
