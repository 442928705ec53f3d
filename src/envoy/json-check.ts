// Walks a JSON value against a protobuf message descriptor and reports every problem with the
// field path it sits at. protobuf-es's fromJson stops at the first error and names only the
// message type, so the structure (unknown keys, @type resolution, arrays vs objects, oneofs) is
// checked here; leaf values (scalars, enums, Duration, Timestamp ...) are checked by running
// protobuf-es itself on just that value, so the rules stay exactly those of the real decoder.
import type { DescEnum, DescField, DescMessage, JsonValue, Registry } from "@bufbuild/protobuf";
import { fromJson, ScalarType } from "@bufbuild/protobuf";
import { hasCustomJsonRepresentation } from "@bufbuild/protobuf/wkt";

/** One step of a field path: a field name as written, a list index, or a map key. */
export type PathSegment = string | number | { readonly mapKey: string };

export interface JsonProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

const MAX_DEPTH = 100;

const WKT_HINTS: Record<string, string> = {
  "google.protobuf.Duration": ' (a string of seconds with an "s" suffix, like "15s" or "0.250s")',
  "google.protobuf.Timestamp": " (an RFC 3339 string)",
  "google.protobuf.Struct": " (an object)",
  "google.protobuf.ListValue": " (a list)",
};

/** `a.b[0].c["key"]`, the notation used in every error message. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (typeof seg === "string") out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg.mapKey)}]`;
  }
  return out === "" ? "(root)" : out;
}

/** Checks `json` as the JSON form of `desc`; returns every problem found (empty when valid). */
export function checkMessageJson(desc: DescMessage, json: JsonValue, registry: Registry): JsonProblem[] {
  const problems: JsonProblem[] = [];
  new Checker(registry, problems).message(desc, json, [], 0);
  return problems;
}

class Checker {
  constructor(
    private readonly registry: Registry,
    private readonly problems: JsonProblem[],
  ) {}

  private report(path: readonly PathSegment[], message: string): void {
    this.problems.push({ path: [...path], message });
  }

  message(desc: DescMessage, json: JsonValue, path: PathSegment[], depth: number): void {
    if (depth > MAX_DEPTH) return this.report(path, `nested deeper than ${MAX_DEPTH} messages`);
    if (desc.typeName === "google.protobuf.Any") return this.any(json, path, depth);
    if (hasCustomJsonRepresentation(desc)) {
      const hint = WKT_HINTS[desc.typeName] ?? "";
      return this.leaf(() => fromJson(desc, json, { registry: this.registry }), path, `invalid ${desc.typeName}${hint}, got ${describe(json)}`);
    }
    if (!isObject(json)) return this.report(path, `expected an object (${desc.typeName}), got ${describe(json)}`);
    const seen = new Map<DescField, string>();
    const oneofs = new Map<string, string>();
    for (const [key, value] of Object.entries(json)) {
      const field = desc.fields.find((f) => f.name === key || f.jsonName === key);
      const at = [...path, key];
      if (!field) {
        this.report(at, `unknown field "${key}" in ${desc.typeName}${suggest(key, desc)}`);
        continue;
      }
      const previous = seen.get(field);
      if (previous !== undefined) {
        this.report(at, `field ${field.name} is set twice (as "${previous}" and "${key}")`);
        continue;
      }
      seen.set(field, key);
      if (value === null) continue;
      if (field.oneof) {
        const other = oneofs.get(field.oneof.name);
        if (other !== undefined) {
          this.report(at, `"${key}" and "${other}" are both set, but they are alternatives (oneof ${field.oneof.name})`);
          continue;
        }
        oneofs.set(field.oneof.name, key);
      }
      this.field(desc, field, key, value, at, depth);
    }
  }

  private field(desc: DescMessage, field: DescField, key: string, value: JsonValue, at: PathSegment[], depth: number): void {
    const alone = (v: JsonValue) => () => fromJson(desc, { [key]: v }, { registry: this.registry });
    switch (field.fieldKind) {
      case "scalar":
        return this.leaf(alone(value), at);
      case "enum":
        return this.leaf(alone(value), at, enumProblem(field.enum, value));
      case "message":
        return this.message(field.message, value, at, depth + 1);
      case "list": {
        if (!Array.isArray(value)) return this.report(at, `expected a list, got ${describe(value)}`);
        value.forEach((item, i) => {
          if (item === null) this.report([...at, i], "list items must not be null");
          else if (field.listKind === "message") this.message(field.message, item, [...at, i], depth + 1);
          else this.leaf(alone([item]), [...at, i], field.listKind === "enum" ? enumProblem(field.enum, item) : undefined);
        });
        return;
      }
      case "map": {
        if (!isObject(value)) return this.report(at, `expected a map (object), got ${describe(value)}`);
        for (const [k, v] of Object.entries(value)) {
          const entryAt = [...at, { mapKey: k }];
          if (v === null) this.report(entryAt, "map values must not be null");
          else if (field.mapKind === "message") {
            if (!validMapKey(field.mapKey, k)) this.report(entryAt, `invalid map key ${JSON.stringify(k)} (${ScalarType[field.mapKey].toLowerCase()})`);
            this.message(field.message, v, entryAt, depth + 1);
          } else this.leaf(alone({ [k]: v }), entryAt, field.mapKind === "enum" ? enumProblem(field.enum, v) : undefined);
        }
      }
    }
  }

  private any(json: JsonValue, path: PathSegment[], depth: number): void {
    if (!isObject(json)) return this.report(path, `expected an object with "@type" (google.protobuf.Any), got ${describe(json)}`);
    // protobuf JSON allows `{}` (an empty Any); Envoy configs always name the type explicitly.
    const typeUrl = json["@type"];
    if (typeUrl === undefined || typeUrl === "") return this.report([...path, "@type"], `missing "@type" (every typed_config needs one)`);
    if (typeof typeUrl !== "string") return this.report([...path, "@type"], `"@type" must be a type URL string, got ${describe(typeUrl)}`);
    const typeName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
    const desc = typeName === "" ? undefined : this.registry.getMessage(typeName);
    if (!desc) {
      return this.report([...path, "@type"], `unresolved @type "${typeUrl}": no such message in the generated Envoy API (src/gen; add its .proto to buf.gen.yaml)`);
    }
    const rest: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(json)) if (k !== "@type") rest[k] = v;
    if (hasCustomJsonRepresentation(desc)) {
      const extra = Object.keys(rest).filter((k) => k !== "value");
      for (const k of extra) this.report([...path, k], `unknown field "${k}" in an Any holding ${desc.typeName} (only "value" is allowed)`);
      if (extra.length === 0) this.message(desc, rest["value"] ?? null, [...path, "value"], depth + 1);
      return;
    }
    this.message(desc, rest, path, depth + 1);
  }

  /** Runs protobuf-es on one value; `explain` replaces its message when that is just the value. */
  private leaf(decode: () => unknown, path: PathSegment[], explain?: string): void {
    try {
      decode();
    } catch (err) {
      this.report(path, explain ?? reason(err));
    }
  }
}

function validMapKey(type: ScalarType, key: string): boolean {
  if (type === ScalarType.STRING) return true;
  if (type === ScalarType.BOOL) return key === "true" || key === "false";
  return /^-?\d+$/.test(key);
}

function enumProblem(desc: DescEnum, value: JsonValue): string {
  const names = desc.values.map((v) => v.name);
  const shown = names.length > 12 ? `${names.slice(0, 12).join(", ")}, ...` : names.join(", ");
  return `invalid value ${JSON.stringify(value)} for enum ${desc.typeName} (one of ${shown})`;
}

function isObject(v: JsonValue): v is { [k: string]: JsonValue } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: JsonValue): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** protobuf-es wraps field errors as "cannot decode field X from JSON: reason"; keep the reason. */
function reason(err: unknown): string {
  const e = err instanceof Error ? err : new Error(String(err));
  const inner = e.cause instanceof Error ? e.cause : e;
  return inner.message.replace(/^cannot decode .*? from JSON:? ?/, "") || e.message;
}

function suggest(key: string, desc: DescMessage): string {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const f of desc.fields) {
    const d = distance(key.toLowerCase(), f.name);
    if (d < bestDistance) {
      best = f.name;
      bestDistance = d;
    }
  }
  return best === undefined ? "" : ` (did you mean "${best}"?)`;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
