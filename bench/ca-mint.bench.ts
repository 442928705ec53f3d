// `npm run bench ca-mint`: X.509-SVID mints/s through the full CertificateAuthority path (ID and
// key checks, template concatenation, one ECDSA P-256 signature) next to raw crypto.sign P-256
// signatures/s measured in the same run on the same core, plus JWT-SVID mints/s. Target: X.509
// mints >= 40% of raw signatures.
import { generateKeyPairSync, sign } from "node:crypto";
import { createFakeClock } from "../test/support/fake-clock.js";
import { createCertificateAuthority, createMemoryJournalStore } from "../src/ca/authority/index.js";
import { createMemoryKeyManager } from "../src/ca/keys/index.js";

const DURATION_MS = 2000;

function rate(fn: () => void): number {
  for (let i = 0; i < 200; i++) fn(); // warm-up (JIT)
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < DURATION_MS) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
  }
  return Math.round((n * 1000) / (performance.now() - start));
}

async function asyncRate(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 100; i++) await fn();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < DURATION_MS) {
    await fn();
    n++;
  }
  return Math.round((n * 1000) / (performance.now() - start));
}

export default async () => {
  const ca = await createCertificateAuthority({
    trustDomain: "example.org",
    serverId: "bench",
    keyManager: createMemoryKeyManager(),
    journalStore: createMemoryJournalStore(),
    clock: createFakeClock(Date.now()),
  });
  // A pool of distinct workload keys, as real CSRs bring a new key each time.
  const workloadKeys = Array.from({ length: 64 }, () => generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey);
  const caKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const tbsSized = Buffer.alloc(420, 7); // about the size of an SVID's TBSCertificate
  let k = 0;
  const mint = () => ca.mintX509Svid({ spiffeId: "spiffe://example.org/ns/prod/sa/web", publicKey: workloadKeys[k++ & 63]!, dnsNames: ["web.prod.svc"] });
  // The cheapest form of the call (DER signature is the default encoding).
  const raw = () => sign("sha256", tbsSized, caKey);

  // Interleave the two measurements so both see the same machine load.
  const rawRates: number[] = [];
  const mintRates: number[] = [];
  for (let round = 0; round < 5; round++) {
    rawRates.push(rate(raw));
    mintRates.push(rate(mint));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rawPerSec = median(rawRates);
  const x509PerSec = median(mintRates);
  // The ratio is taken per round (adjacent measurements) so load from other processes cancels out.
  const ratioPercent = median(rawRates.map((r, i) => (mintRates[i]! / r) * 100));
  const jwtPerSec = await asyncRate(() => ca.mintJwtSvid({ spiffeId: "spiffe://example.org/ns/prod/sa/web", audience: ["db"] }));
  const leafBytes = mint().chain[0]!.length;
  return {
    rawP256SignaturesPerSec: rawPerSec,
    x509SvidMintsPerSec: x509PerSec,
    x509VsRawPercent: Math.round(ratioPercent * 10) / 10,
    targetPercent: 40,
    jwtSvidMintsPerSec: jwtPerSec,
    // Against the raw P-256 rate above (same run); target 50%.
    jwtVsRawPercent: Math.round((jwtPerSec / rawPerSec) * 1000) / 10,
    leafDerBytes: leafBytes,
    rounds: { raw: rawRates, x509: mintRates },
  };
};
