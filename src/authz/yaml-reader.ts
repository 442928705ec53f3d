// Reads a YAML document node by node, keeping each node's line and column, and records a problem
// (instead of throwing) for every shape mismatch, so one pass reports everything that is wrong.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Document, Node as YamlNode, Scalar, YAMLMap, YAMLSeq } from "yaml";
import type { SourcePos } from "./model.js";
import type { Problem } from "./problems.js";

export interface MapEntry {
  readonly key: string;
  readonly keyNode: Scalar;
  readonly value: YamlNode | null;
}

export class YamlReader {
  readonly problems: Problem[] = [];
  readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    for (const e of [...this.doc.errors, ...this.doc.warnings]) {
      const at = this.lines.linePos(e.pos[0]);
      const reason = e.message.split("\n")[0] ?? e.message;
      this.problems.push({ severity: "error", file, line: at.line, column: at.col, message: `YAML: ${reason}` });
    }
  }

  /**
   * True when the text did not parse; callers then skip the structural walk. A duplicate key is
   * reported but still walked, so the rest of the file is checked too.
   */
  get syntaxBroken(): boolean {
    return this.doc.errors.some((e) => e.code !== "DUPLICATE_KEY");
  }

  get root(): YamlNode | null {
    return this.doc.contents;
  }

  pos(node: YamlNode | null | undefined, fallback?: SourcePos): SourcePos {
    const offset = node?.range?.[0];
    if (offset === undefined) return fallback ?? { file: this.file, line: 1, column: 1 };
    const at = this.lines.linePos(offset);
    return { file: this.file, line: at.line, column: at.col };
  }

  error(at: YamlNode | SourcePos | null | undefined, message: string): void {
    this.report("error", at, message);
  }

  warn(at: YamlNode | SourcePos | null | undefined, message: string): void {
    this.report("warning", at, message);
  }

  private report(severity: Problem["severity"], at: YamlNode | SourcePos | null | undefined, message: string): void {
    const pos = at && "file" in at ? at : this.pos(at);
    this.problems.push({ severity, file: pos.file, line: pos.line, column: pos.column, message });
  }

  resolve(node: YamlNode | null | undefined): YamlNode | null {
    if (node && isAlias(node)) return (node.resolve(this.doc) as YamlNode | undefined) ?? null;
    return node ?? null;
  }

  map(node: YamlNode | null, what: string, near?: YamlNode | SourcePos): YAMLMap | undefined {
    const n = this.resolve(node);
    if (n && isMap(n)) return n;
    this.error(n ?? near, `${what} must be a mapping, got ${describe(n)}`);
    return undefined;
  }

  seq(node: YamlNode | null, what: string, near?: YamlNode | SourcePos): YAMLSeq | undefined {
    const n = this.resolve(node);
    if (n && isSeq(n)) return n;
    this.error(n ?? near, `${what} must be a list, got ${describe(n)}`);
    return undefined;
  }

  items(seq: YAMLSeq): (YamlNode | null)[] {
    return seq.items.map((item) => this.resolve(item as YamlNode | null));
  }

  string(node: YamlNode | null, what: string, near?: YamlNode | SourcePos): string | undefined {
    const n = this.resolve(node);
    if (n && isScalar(n) && typeof n.value === "string") return n.value;
    this.error(n ?? near, `${what} must be a string, got ${describe(n)}`);
    return undefined;
  }

  integer(node: YamlNode | null, what: string, near?: YamlNode | SourcePos): number | undefined {
    const n = this.resolve(node);
    if (n && isScalar(n) && typeof n.value === "number" && Number.isInteger(n.value)) return n.value;
    this.error(n ?? near, `${what} must be an integer, got ${describe(n)}`);
    return undefined;
  }

  /** The entries of a mapping with string keys; unknown keys are reported, with a suggestion. */
  entries(map: YAMLMap, allowed: readonly string[], where: string): MapEntry[] {
    const out: MapEntry[] = [];
    for (const pair of map.items) {
      const keyNode = this.resolve(pair.key as YamlNode | null);
      if (!keyNode || !isScalar(keyNode) || typeof keyNode.value !== "string") {
        this.error(keyNode ?? map, `${where}: keys must be strings, got ${describe(keyNode)}`);
        continue;
      }
      const key = keyNode.value;
      if (allowed.length > 0 && !allowed.includes(key)) {
        const hint = closest(key, allowed);
        this.error(keyNode, `${where}: unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ""}; allowed: ${allowed.join(", ")}`);
        continue;
      }
      out.push({ key, keyNode, value: this.resolve(pair.value as YamlNode | null) });
    }
    return out;
  }
}

export function describe(node: YamlNode | null): string {
  if (!node) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "null";
    return `${typeof v} ${JSON.stringify(v)}`;
  }
  return "an unsupported node";
}

function closest(key: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const o of options) {
    const d = editDistance(key.toLowerCase(), o);
    if (d < bestDistance) {
      best = o;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
