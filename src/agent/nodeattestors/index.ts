// Agent-side node attestors (docs/node-attestation.md): evidence producers and challenge responders
// for the server plugins in src/ca/nodeattestors.
export type { AgentNodeAttestor } from "./plugin.js";
export * as joinToken from "./join-token/index.js";
export * as x509pop from "./x509pop/index.js";
export * as k8sPsat from "./k8s-psat/index.js";
