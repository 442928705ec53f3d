// Durations in config files and flags: "90s", "5m", "1h30m", "7d", or a bare number of seconds.

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Returns whole seconds, or undefined when `value` is not a duration. */
export function parseDurationSeconds(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const m = DURATION_RE.exec(v);
  if (!m || v === "") return undefined;
  const [, d, h, min, s] = m;
  return [d, h, min, s].reduce<number>((acc, part, i) => acc + Number(part ?? 0) * UNIT_SECONDS["dhms"[i]!]!, 0);
}

export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  let rest = seconds;
  let out = "";
  for (const u of ["d", "h", "m", "s"]) {
    const n = Math.floor(rest / UNIT_SECONDS[u]!);
    if (n > 0) out += `${n}${u}`;
    rest -= n * UNIT_SECONDS[u]!;
  }
  return out;
}
