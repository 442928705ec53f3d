// Seeded input generation for the fuzz suites: a small PRNG (mulberry32) so a failure reproduces
// from the printed seed, and byte/text mutators (bit flips, byte substitution with boundary
// values, insertion, deletion, duplication, truncation, splicing of two inputs).

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  int(maxExclusive: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
}

export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  return {
    next,
    int,
    pick: (items) => items[int(items.length)]!,
    bytes: (n) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}

/** The suite's seed: FUZZ_SEED when set, else random; printed by every suite so a failure reproduces. */
export function fuzzSeed(): number {
  const fromEnv = process.env["FUZZ_SEED"];
  return fromEnv !== undefined && fromEnv !== "" ? Number(fromEnv) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

/** Inputs per surface: FUZZ_COUNT, default 20,000 (what CI runs). */
export function fuzzCount(): number {
  const n = Number(process.env["FUZZ_COUNT"] ?? "20000");
  if (!Number.isInteger(n) || n <= 0) throw new Error(`FUZZ_COUNT must be a positive integer, got ${process.env["FUZZ_COUNT"]}`);
  return n;
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x0a, 0x22, 0x2f, 0x3a, 0x40, 0x5c];

/** One to four mutations of `input` (never modifies it); `corpus` supplies splice partners. */
export function mutateBytes(rng: Rng, input: Uint8Array, corpus: readonly Uint8Array[] = []): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(8)) {
      case 0:
        if (b.length > 0) b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 1:
        if (b.length > 0) b[at] = rng.pick(INTERESTING);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + rng.int(8))]);
        break;
      case 4:
        b = b.subarray(0, rng.int(b.length + 1));
        break;
      case 5: {
        const len = 1 + rng.int(16);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
        break;
      }
      case 6:
        if (corpus.length > 0) {
          const other = rng.pick(corpus);
          b = Buffer.concat([b.subarray(0, at), Buffer.from(other.subarray(rng.int(other.length + 1)))]);
        }
        break;
      default:
        if (b.length >= 4) b.writeUInt32BE(rng.pick([0, 0x7fffffff, 0xffffffff, 0x80000000, 1 << rng.int(31)]), rng.int(b.length - 3));
    }
  }
  return b;
}

/** Text mutation through bytes (latin1 keeps every byte), sometimes with a multibyte character. */
export function mutateText(rng: Rng, input: string, corpus: readonly string[] = []): string {
  const out = mutateBytes(rng, Buffer.from(input, "utf8"), corpus.map((c) => Buffer.from(c, "utf8"))).toString(rng.int(3) === 0 ? "latin1" : "utf8");
  return rng.int(10) === 0 ? out + rng.pick(["\u0000", "\u00e9", "\ud83d\ude00", "\ud800", "%00", "%2F", "..", "//"]) : out;
}

/** Counts and rate of one surface, for the suite's JSON summary. */
export interface SurfaceResult {
  surface: string;
  inputs: number;
  seconds: number;
  inputsPerSecond: number;
  /** Inputs the target accepted (parsed, or answered OK). */
  accepted: number;
  seed: number;
}

export function result(surface: string, inputs: number, accepted: number, startedMs: number, seed: number): SurfaceResult {
  const seconds = (Date.now() - startedMs) / 1000;
  return { surface, inputs, accepted, seconds: Math.round(seconds * 100) / 100, inputsPerSecond: Math.round(inputs / Math.max(seconds, 0.001)), seed };
}

/** Prints the suite's summary as one JSON line (`FUZZ_SUMMARY {...}`) for the integrator to quote. */
export function printSummary(suite: string, results: readonly SurfaceResult[]): void {
  process.stdout.write(`FUZZ_SUMMARY ${JSON.stringify({ suite, surfaces: results })}\n`);
}
