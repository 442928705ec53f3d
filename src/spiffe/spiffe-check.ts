// SPIFFE ID / trust domain checks for entry validation, as "problem" strings (or undefined) so
// validation can collect every problem; the rules themselves are src/spiffe's.
import { parseSpiffeId, parseTrustDomain, requireWorkloadId, SPIFFE_SCHEME_PREFIX } from "./index.js";

function problemOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A trust domain NAME (no scheme). */
export function trustDomainProblem(td: string): string | undefined {
  if (td.startsWith(SPIFFE_SCHEME_PREFIX)) return `"${td}": give the trust domain name without ${SPIFFE_SCHEME_PREFIX}`;
  return problemOf(() => parseTrustDomain(td));
}

/** Checks `id` is a SPIFFE ID; with `requirePath`, also that it names a workload (non-root path). */
export function spiffeIdProblem(id: string, requirePath: boolean): string | undefined {
  return problemOf(() => (requirePath ? requireWorkloadId(id) : parseSpiffeId(id)));
}

/** The trust domain name of a valid SPIFFE ID. */
export function trustDomainOf(id: string): string {
  return parseSpiffeId(id).trustDomain.name;
}
