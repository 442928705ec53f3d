// Test tooling only: a throw-away CA and server certificates made with the openssl CLI (a tool
// independent of our own code), for HTTPS listeners on 127.0.0.1.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  dir: string;
  /** PEM of the CA certificate (what clients trust). */
  caPem: string;
  caFile: string;
  /** Issues a server certificate for the names (DNS names and IP addresses), written under dir. */
  issue(name: string, sans: readonly string[]): { certFile: string; keyFile: string; certPem: string };
  cleanup(): void;
}

const openssl = (args: string[], cwd: string) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });

export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "spindle-test-ca-"));
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=spindle test CA"], dir);
  const caFile = join(dir, "ca.pem");
  return {
    dir,
    caPem: readFileSync(caFile, "utf8"),
    caFile,
    issue(name, sans) {
      const san = sans.map((s) => (/^[\d.]+$|:/.test(s) ? `IP:${s}` : `DNS:${s}`)).join(",");
      writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
      openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`], dir);
      const certFile = join(dir, `${name}.pem`);
      return { certFile, keyFile: join(dir, `${name}.key`), certPem: readFileSync(certFile, "utf8") };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
