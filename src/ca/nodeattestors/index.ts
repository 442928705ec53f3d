// Server-side node attestors (docs/node-attestation.md): join_token, x509pop, k8s_psat.
// `loadNodeAttestors` turns the `node_attestors` config block into the plugins the agent API
// offers.
import type { Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import type { TrustDomain } from "../../spiffe/index.js";
import { createConfigReader } from "./config.js";
import { createJoinTokenAttestor, JOIN_TOKEN_PLUGIN, parseJoinTokenServerConfig, type JoinTokenConsumer } from "./join-token/index.js";
import { createK8sPsatAttestor, K8S_PSAT_PLUGIN, parseK8sPsatServerConfig, type FetchFn } from "./k8s-psat/index.js";
import type { NodeAttestorPlugin } from "./plugin.js";
import { createX509PopAttestor, parseX509PopServerConfig, readCaBundle, X509POP_PLUGIN } from "./x509pop/index.js";

export type { NodeAttestorPlugin, NodeAttestation, ChallengeFn } from "./plugin.js";
export { AGENT_PATH_PREFIX } from "./plugin.js";
export * from "./join-token/index.js";
export * from "./x509pop/index.js";
export * from "./k8s-psat/index.js";

export const NODE_ATTESTOR_NAMES = [JOIN_TOKEN_PLUGIN, X509POP_PLUGIN, K8S_PSAT_PLUGIN] as const;

export interface NodeAttestorDeps {
  trustDomain: TrustDomain;
  joinTokens: JoinTokenConsumer;
  clock: Clock;
  logger: Logger;
  fetch?: FetchFn;
}

/**
 * Parses the `node_attestors` block (plugin name -> plugin config; unknown names are errors, all
 * problems are reported together) and creates the enabled plugins. Reads the files it names.
 */
export function loadNodeAttestors(raw: unknown, deps: NodeAttestorDeps, path = "node_attestors"): Map<string, NodeAttestorPlugin> {
  const r = createConfigReader();
  const block = r.mapping(raw, path, NODE_ATTESTOR_NAMES) ?? {};
  r.done("node attestors");
  const plugins = new Map<string, NodeAttestorPlugin>();
  if (JOIN_TOKEN_PLUGIN in block) {
    parseJoinTokenServerConfig(block[JOIN_TOKEN_PLUGIN], `${path}.${JOIN_TOKEN_PLUGIN}`);
    plugins.set(JOIN_TOKEN_PLUGIN, createJoinTokenAttestor({ trustDomain: deps.trustDomain, tokens: deps.joinTokens }));
  }
  if (X509POP_PLUGIN in block) {
    const c = parseX509PopServerConfig(block[X509POP_PLUGIN], `${path}.${X509POP_PLUGIN}`);
    plugins.set(
      X509POP_PLUGIN,
      createX509PopAttestor({ trustDomain: deps.trustDomain, caCertificates: readCaBundle(c.caBundlePath), agentIdFingerprint: c.agentIdFingerprint, clock: deps.clock }),
    );
  }
  if (K8S_PSAT_PLUGIN in block) {
    const config = parseK8sPsatServerConfig(block[K8S_PSAT_PLUGIN], `${path}.${K8S_PSAT_PLUGIN}`);
    plugins.set(K8S_PSAT_PLUGIN, createK8sPsatAttestor({ trustDomain: deps.trustDomain, config, clock: deps.clock, logger: deps.logger, fetch: deps.fetch }));
  }
  return plugins;
}
