// The contract of one workload attestor plugin (one folder per plugin: unix/, later k8s/ and
// docker/). A plugin turns a pid into selectors of its own type; it rejects with
// ERR_WORKLOAD_ATTESTATION when the pid cannot be attested or no longer names the caller.
import type { Selector } from "../../spiffe/selector.js";

export interface WorkloadAttestorPlugin {
  readonly name: string;
  attest(pid: number): Promise<readonly Selector[]>;
}
