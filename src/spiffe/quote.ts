// Untrusted input is echoed into error messages; keep it short and escaped so a 2 KB ID or a
// control character cannot flood or forge log lines.
const MAX_QUOTED = 120;

export function quote(value: string): string {
  const shown = value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}...` : value;
  return JSON.stringify(shown);
}
