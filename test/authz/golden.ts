// Shared by the golden test and its regeneration script: which files, and how they are rendered.
import { compileAll, requirePolicy, renderAllServices, type FilterKind } from "../../src/authz/index.js";

export interface GoldenCase {
  input: string;
  expected: string;
  filter: FilterKind;
}

export function goldenCases(files: readonly string[]): GoldenCase[] {
  return files
    .filter((f) => f.endsWith(".policy.yaml"))
    .sort()
    .flatMap((input) =>
      (["http", "network"] as const).map((filter) => ({ input, filter, expected: input.replace(/\.policy\.yaml$/, `.${filter}.yaml`) })),
    );
}

export function renderGolden(text: string, file: string, filter: FilterKind): string {
  return renderAllServices(compileAll(requirePolicy(text, file), { filter }), "yaml");
}
