// A short-lived, shared copy of the kubelet's pod list. Attestations within one TTL read the same
// list, and callers that arrive while a request is in flight wait for that request, so a burst of
// workloads starting together costs the kubelet one call. Failures are not cached.
import type { Clock } from "../../../common/clock.js";
import type { FetchPods, KubeletPod } from "./kubelet-client.js";

export interface PodSnapshot {
  /** Increases with every request started; a snapshot with a higher seq is strictly newer. */
  readonly seq: number;
  /** When its request started: the list shows the node no older than this. */
  readonly requestedAt: number;
  readonly pods: readonly KubeletPod[];
}

export interface PodCache {
  /**
   * A list no older than the TTL; with `newerThan`, one whose request started after that
   * snapshot's (a refetch, shared by every caller asking for the same).
   */
  get(newerThan?: PodSnapshot): Promise<PodSnapshot>;
}

export function createPodCache(options: { fetch: FetchPods; ttlMs: number; clock: Clock }): PodCache {
  const { clock, ttlMs } = options;
  let seq = 0;
  let current: PodSnapshot | undefined;
  let inflight: { seq: number; promise: Promise<PodSnapshot> } | undefined;

  return {
    get(newerThan) {
      const minSeq = (newerThan?.seq ?? 0) + 1;
      if (current !== undefined && current.seq >= minSeq && clock.now() - current.requestedAt < ttlMs) return Promise.resolve(current);
      if (inflight !== undefined && inflight.seq >= minSeq) return inflight.promise;
      const mine = ++seq;
      const requestedAt = clock.now();
      const promise = options.fetch().then((pods) => {
        const snap: PodSnapshot = { seq: mine, requestedAt, pods };
        // A slower, older request never replaces a newer list.
        if (current === undefined || current.seq < mine) current = snap;
        return snap;
      });
      const settle = () => {
        if (inflight?.seq === mine) inflight = undefined;
      };
      promise.then(settle, settle);
      inflight = { seq: mine, promise };
      return promise;
    },
  };
}
