// Generic config-file plumbing: read YAML, expand ${VAR} from the environment, and turn zod issues
// into "path: message" lines so every problem is reported at once.
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { spindleError } from "../../common/errors.js";

export type Problem = string;

/** Reads a YAML mapping; ERR_CONFIG_READ when unreadable or not YAML. */
export function readYamlFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw spindleError("ERR_CONFIG_READ", `cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    const list = doc.errors.map((e) => `${path}:${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}`).join("\n  - ");
    throw spindleError("ERR_CONFIG_READ", `config file ${path} is not valid YAML:\n  - ${list}`);
  }
  let value: unknown;
  try {
    // Valid syntax can still fail to become a value: an alias without its anchor, or more alias
    // expansions than the yaml library allows (its guard against alias bombs).
    value = doc.toJS();
  } catch (err) {
    throw spindleError("ERR_CONFIG_READ", `config file ${path} cannot be read as YAML: ${(err as Error).message}`, { cause: err });
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw spindleError("ERR_CONFIG_READ", `config file ${path} must be a YAML mapping at the top level`);
  return value as Record<string, unknown>;
}

/** Replaces ${NAME} in every string value; unset variables are problems (with their path). */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, problems: Problem[], path = ""): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) {
        problems.push(`${path || "(root)"}: environment variable ${name} is not set`);
        return "";
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, problems, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, problems, path ? `${path}.${k}` : k)]));
  }
  return value;
}

export function zodProblems(error: z.ZodError): Problem[] {
  return error.issues.flatMap((issue) => {
    const at = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => `${at ? `${at}.` : ""}${k}: unknown key`);
    }
    return [`${at || "(root)"}: ${issue.message}`];
  });
}

export function configInvalid(source: string, problems: readonly Problem[]) {
  return spindleError("ERR_CONFIG_INVALID", `invalid configuration (${source}):\n  - ${problems.join("\n  - ")}`, { details: { problems } });
}
