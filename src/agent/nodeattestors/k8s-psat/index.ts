// Agent side of k8s_psat: sends the pod's projected service-account token (read fresh on every
// attestation, as the kubelet rotates it). Payload: {"cluster": "<name>", "token": "<jwt>"}.
import { readFile } from "node:fs/promises";
import { spindleError } from "../../../common/errors.js";
import { jsonBytes, noChallenges, readAgentConfig, type AgentNodeAttestor } from "../plugin.js";

export const K8S_PSAT_PLUGIN = "k8s_psat";
export const DEFAULT_PSAT_TOKEN_PATH = "/var/run/secrets/tokens/spindle-agent";

export interface K8sPsatAgentConfig {
  readonly cluster: string;
  readonly tokenPath: string;
}

export function parseK8sPsatAgentConfig(raw: unknown, path = `node_attestor.${K8S_PSAT_PLUGIN}`): K8sPsatAgentConfig {
  const c = readAgentConfig(raw, path, { cluster: { required: true }, token_path: {} }, `${K8S_PSAT_PLUGIN} node attestor`);
  return Object.freeze({ cluster: c["cluster"]!, tokenPath: c["token_path"] ?? DEFAULT_PSAT_TOKEN_PATH });
}

export interface K8sPsatAgentOptions extends K8sPsatAgentConfig {
  /** Default: reads tokenPath. */
  readToken?: (path: string) => Promise<string>;
}

export function createK8sPsatAgentAttestor(options: K8sPsatAgentOptions): AgentNodeAttestor {
  const readToken = options.readToken ?? ((p: string) => readFile(p, "utf8"));
  return {
    name: K8S_PSAT_PLUGIN,
    async payload() {
      let token: string;
      try {
        token = (await readToken(options.tokenPath)).trim();
      } catch (err) {
        throw spindleError("ERR_CONFIG_READ", `${K8S_PSAT_PLUGIN}: cannot read the service account token ${options.tokenPath}: ${(err as Error).message}`, { cause: err });
      }
      return jsonBytes({ cluster: options.cluster, token });
    },
    answer: noChallenges(K8S_PSAT_PLUGIN),
  };
}
