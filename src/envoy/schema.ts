// Decodes Envoy v3 configuration (a Bootstrap, or any named Envoy message such as an RBAC
// filter, a Secret or a TypedExtensionConfig) from YAML or JSON through the generated
// protobuf-es types, the way Envoy itself loads it: proto field names (snake_case, as in Envoy's
// docs) or JSON names, durations as "15s", every `google.protobuf.Any` resolved by its `@type`.
// Unknown fields, unresolved @types and wrong value types are all reported, each with its field
// path and, for text input, its line and column.
import type { DescMessage, JsonValue, Message, MessageShape, Registry } from "@bufbuild/protobuf";
import { fromJson } from "@bufbuild/protobuf";
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import { checkMessageJson, formatPath } from "./json-check.js";
import type { PathSegment } from "./json-check.js";
import { envoyRegistry } from "./registry.js";
import { SpindleError } from "../common/errors.js";

export { envoyRegistry } from "./registry.js";
export { formatPath } from "./json-check.js";

export const BOOTSTRAP_TYPE = "envoy.config.bootstrap.v3.Bootstrap";

export type EnvoyConfigFormat = "yaml" | "json";

export interface DecodeEnvoyConfigOptions {
  /** How to parse text input. Default "yaml", which also reads JSON. Ignored for objects. */
  format?: EnvoyConfigFormat;
  /** Registry resolving message types and @types; default `envoyRegistry()`. */
  registry?: Registry;
  /** Where the text came from (a file name), used in messages. */
  source?: string;
}

export interface EnvoyConfigProblem {
  /** Field path, e.g. `static_resources.listeners[0].name`; "(root)" for the whole document. */
  readonly path: string;
  readonly message: string;
  /** 1-based position in the text, when the input was text and the path could be located. */
  readonly line?: number;
  readonly column?: number;
}

/**
 * Decodes `input` (YAML/JSON text, or an already parsed JSON value) as the Envoy message `type`
 * (a full name such as `envoy.config.bootstrap.v3.Bootstrap`, a type URL, or a descriptor).
 * Throws ERR_ENVOY_CONFIG_INVALID listing every problem (also in `details.problems`), or
 * ERR_INVALID_ARGUMENT when `type` names no known message.
 */
export function decodeEnvoyConfig<Desc extends DescMessage>(type: Desc, input: string | JsonValue, options?: DecodeEnvoyConfigOptions): MessageShape<Desc>;
export function decodeEnvoyConfig(type: string, input: string | JsonValue, options?: DecodeEnvoyConfigOptions): Message;
export function decodeEnvoyConfig(type: string | DescMessage, input: string | JsonValue, options: DecodeEnvoyConfigOptions = {}): Message {
  const registry = options.registry ?? envoyRegistry();
  const desc = typeof type === "string" ? resolveMessageType(type, registry) : type;
  const source = options.source ?? "input";
  const parsed = typeof input === "string" ? parseText(input, options.format ?? "yaml", source) : { json: input };
  const located = checkMessageJson(desc, parsed.json, registry).map((p) => locate(p.path, p.message, parsed.doc, parsed.lines));
  if (located.length === 0) {
    try {
      return fromJson(desc, parsed.json, { registry });
    } catch (err) {
      // The walk above mirrors fromJson's rules; this is only reached if they ever drift apart.
      located.push({ path: "(root)", message: err instanceof Error ? err.message : String(err) });
    }
  }
  throw invalid(source, desc.typeName, located);
}

/** Looks up a message type by full name or type URL (`type.googleapis.com/<name>`). */
export function resolveMessageType(type: string, registry: Registry = envoyRegistry()): DescMessage {
  const name = type.slice(type.lastIndexOf("/") + 1).replace(/^\./, "");
  const desc = registry.getMessage(name);
  if (!desc) {
    throw new SpindleError("ERR_INVALID_ARGUMENT", `unknown message type "${type}": not in the generated Envoy API (src/gen)`, {
      details: { type },
    });
  }
  return desc;
}

interface Parsed {
  json: JsonValue;
  doc?: Document;
  lines?: LineCounter;
}

function parseText(text: string, format: EnvoyConfigFormat, source: string): Parsed {
  if (format === "json") {
    try {
      JSON.parse(text);
    } catch (err) {
      throw syntax(source, "JSON", err);
    }
  }
  // JSON goes through the YAML parser too (JSON is YAML 1.2 flow syntax): it gives positions.
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const first = doc.errors[0];
  if (first) throw syntax(source, format.toUpperCase(), first, lines.linePos(first.pos[0]));
  const json = doc.toJS({ maxAliasCount: 1000 }) as JsonValue | undefined;
  if (json === null || json === undefined) throw new SpindleError("ERR_ENVOY_CONFIG_INVALID", `${source}: the document is empty`);
  return { json, doc, lines };
}

function syntax(source: string, kind: string, err: unknown, pos?: { line: number; col: number }): SpindleError {
  const where = pos ? `:${pos.line}:${pos.col}` : "";
  const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
  return new SpindleError("ERR_ENVOY_CONFIG_INVALID", `${source}${where}: not valid ${kind}: ${reason}`, { cause: err });
}

function invalid(source: string, typeName: string, problems: EnvoyConfigProblem[]): SpindleError {
  const lines = problems.map((p) => `  ${p.path}: ${p.message}${p.line === undefined ? "" : ` (line ${p.line}, column ${p.column})`}`);
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return new SpindleError("ERR_ENVOY_CONFIG_INVALID", `${source} is not a valid ${typeName} (${count}):\n${lines.join("\n")}`, {
    details: { type: typeName, problems },
  });
}

/** Finds the YAML node a path points at: the key of the last map entry, or the list item. */
function locate(path: readonly PathSegment[], message: string, doc?: Document, lines?: LineCounter): EnvoyConfigProblem {
  const problem = { path: formatPath(path), message };
  if (!doc || !lines) return problem;
  let node: unknown = doc.contents;
  let offset = (node as YamlNode | null)?.range?.[0];
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    const key = typeof seg === "object" ? seg.mapKey : seg;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) break;
      offset = (pair.key as YamlNode).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof key === "number") {
      node = node.items[key];
      offset = (node as YamlNode | undefined)?.range?.[0] ?? offset;
    } else break;
  }
  if (offset === undefined) return problem;
  const pos = lines.linePos(offset);
  return { ...problem, line: pos.line, column: pos.col };
}
