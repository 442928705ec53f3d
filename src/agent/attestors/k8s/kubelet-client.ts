// The kubelet's pod list (`GET /pods`, the pods this node runs, as a v1 PodList). Only the fields
// the selectors need are kept. The token and CA are read on every request: projected tokens
// rotate, and a request is made at most once per cache period.
import { readFile } from "node:fs/promises";
import * as http from "node:http";
import * as https from "node:https";
import { spindleError } from "../../../common/errors.js";
import type { K8sAttestorConfig } from "./config.js";
import { readBoundedBody } from "../../../transport/http-body.js";

export interface KubeletContainer {
  readonly name: string;
  /** Without the `containerd://` / `docker://` / `cri-o://` prefix. */
  readonly containerId: string;
  readonly image: string;
  readonly imageId: string;
  /** The image named in the pod spec, which may differ from the resolved status image. */
  readonly specImage: string;
}

export interface KubeletPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccount: string;
  readonly nodeName: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Regular, init and ephemeral containers that have started (they have an id). */
  readonly containers: readonly KubeletContainer[];
}

export type FetchPods = () => Promise<readonly KubeletPod[]>;

/** A pod list can be large (hundreds of pods with their specs), but not unbounded. */
const MAX_BODY = 64 * 1024 * 1024;

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const obj = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function podsFromPodList(body: unknown): KubeletPod[] {
  const items = obj(body)["items"];
  if (!Array.isArray(items)) throw new Error("the answer is not a PodList (no items array)");
  return items.map((item) => {
    const meta = obj(obj(item)["metadata"]);
    const spec = obj(obj(item)["spec"]);
    const status = obj(obj(item)["status"]);
    const specImages = new Map<string, string>();
    for (const key of ["containers", "initContainers", "ephemeralContainers"]) {
      for (const c of arr(spec[key])) specImages.set(str(obj(c)["name"]), str(obj(c)["image"]));
    }
    const containers: KubeletContainer[] = [];
    for (const key of ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"]) {
      for (const raw of arr(status[key])) {
        const c = obj(raw);
        const id = str(c["containerID"]);
        if (id === "") continue;
        const name = str(c["name"]);
        const scheme = id.indexOf("://");
        containers.push({ name, containerId: scheme === -1 ? id : id.slice(scheme + 3), image: str(c["image"]), imageId: str(c["imageID"]), specImage: specImages.get(name) ?? "" });
      }
    }
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj(meta["labels"]))) if (typeof v === "string") labels[k] = v;
    return {
      namespace: str(meta["namespace"]),
      name: str(meta["name"]),
      uid: str(meta["uid"]),
      serviceAccount: str(spec["serviceAccountName"]),
      nodeName: str(spec["nodeName"]),
      labels,
      containers,
    };
  });
}

export function createKubeletClient(config: K8sAttestorConfig): FetchPods {
  const url = `${config.kubeletUrl}/pods`;
  const secure = url.startsWith("https:");
  const fail = (why: string, cause?: unknown) =>
    spindleError("ERR_WORKLOAD_ATTESTOR_UNAVAILABLE", `k8s workload attestor: cannot list pods from the kubelet at ${url}: ${why}`, { cause });

  return async () => {
    const headers: Record<string, string> = { accept: "application/json" };
    if (config.tokenPath !== undefined) {
      try {
        headers["authorization"] = `Bearer ${(await readFile(config.tokenPath, "utf8")).trim()}`;
      } catch (err) {
        throw fail(`cannot read the token file ${config.tokenPath} (token_path): ${(err as Error).message}`, err);
      }
    }
    let ca: Buffer | undefined;
    if (secure && !config.skipKubeletVerification) {
      try {
        ca = await readFile(config.kubeletCaPath);
      } catch (err) {
        throw fail(`cannot read the CA file ${config.kubeletCaPath} (kubelet_ca_path): ${(err as Error).message}`, err);
      }
    }
    const text = await new Promise<string>((resolve, reject) => {
      const options: https.RequestOptions = { method: "GET", headers, timeout: config.requestTimeoutMs, agent: false };
      if (secure) Object.assign(options, { ca, rejectUnauthorized: !config.skipKubeletVerification, servername: config.kubeletServerName, minVersion: "TLSv1.2" });
      const req = (secure ? https : http).request(url, options, (res) => {
        readBoundedBody(req, res, MAX_BODY, `answer larger than ${MAX_BODY} bytes`).then((body) => {
          if (res.statusCode === 200) resolve(body);
          else reject(new Error(`HTTP ${res.statusCode} ${res.statusMessage ?? ""}`.trim() + (body === "" ? "" : `: ${body.slice(0, 200).trim()}`) + (res.statusCode === 401 || res.statusCode === 403 ? " (check token_path and the agent's RBAC on nodes/proxy)" : "")));
        }, reject);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${config.requestTimeoutMs} ms`)));
      req.on("error", reject);
      req.end();
    }).catch((err: unknown) => {
      throw fail((err as Error).message, err);
    });
    try {
      return podsFromPodList(JSON.parse(text));
    } catch (err) {
      throw fail(`unexpected answer: ${(err as Error).message}`, err);
    }
  };
}
