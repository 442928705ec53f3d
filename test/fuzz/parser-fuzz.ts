// The loop shared by the parser fuzz suites: mutations of seed inputs through one parser, with
// the suite's seed printed first and its JSON summary last.
import assert from "node:assert/strict";
import { after } from "node:test";
import { SpindleError } from "../../src/common/errors.js";
import { createRng, fuzzCount, fuzzSeed, mutateBytes, mutateText, printSummary, result, type SurfaceResult } from "./mutate.js";

/** "typed": accepting or throwing a SpindleError is correct; "any-throw-is-a-bug": only accepting is. */
export type Verdict = "typed" | "any-throw-is-a-bug";

/** Runs FUZZ_COUNT mutations of the seeds through `parse`; fails on the first wrong kind of failure. */
export type ParserFuzzer = <T extends string | Buffer>(surface: string, seeds: readonly T[], parse: (input: T) => unknown, verdict?: Verdict) => Promise<void>;

export function createParserFuzzer(suite: string): ParserFuzzer {
  const seed = fuzzSeed();
  const count = fuzzCount();
  const results: SurfaceResult[] = [];
  process.stdout.write(`fuzz ${suite}: seed ${seed} (FUZZ_SEED=${seed} reproduces), ${count} inputs per surface\n`);
  after(() => printSummary(suite, results));
  return async function fuzz<T extends string | Buffer>(surface: string, seeds: readonly T[], parse: (input: T) => unknown, verdict: Verdict = "typed"): Promise<void> {
  const rng = createRng(seed ^ hash(surface));
  const start = Date.now();
  let accepted = 0;
  for (let i = 0; i < count; i++) {
    const base = rng.pick(seeds);
    const input = (typeof base === "string" ? mutateText(rng, base, seeds as readonly string[]) : mutateBytes(rng, base, seeds as readonly Buffer[])) as T;
    try {
      await parse(input);
      accepted++;
    } catch (err) {
      if (verdict === "typed" && err instanceof SpindleError) continue;
      const shown = typeof input === "string" ? JSON.stringify(input.slice(0, 2000)) : input.toString("base64");
      assert.fail(`${surface}: input ${i} (seed ${seed}) threw ${(err as Error)?.name}: ${(err as Error)?.message}\ninput: ${shown}\n${(err as Error)?.stack}`);
    }
  }
  results.push(result(surface, count, accepted, start, seed));
  };
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

