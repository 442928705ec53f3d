// Live authorization (docs/authz.md, "Delivery (ECDS)"): watches a policy file, compiles it with
// src/authz and serves the compiled RBAC filters to Envoy over ECDS as the ExtensionConfigSource
// that src/sds declares.
//
// Resource names (TypedExtensionConfig.name, the filter names `spindle envoy bootstrap --authz ecds`
// emits):
//   spindle.authz.deny | spindle.authz.allow              the policy of the calling Envoy's own
//                                                           service (its default SPIFFE ID)
//   spindle.authz.deny/<service> | spindle.authz.allow/<service>
//                                                           the named service (a listener name or
//                                                           a SPIFFE ID) regardless of the caller
// A service missing from the policy gets the fail-closed pair: a neutral DENY filter and an ALLOW
// filter without policies, so every request is denied. An invalid edit is rejected with every
// problem logged and the last good policy keeps being served.
import { readFile } from "node:fs/promises";
import { unwatchFile, watchFile, type Stats } from "node:fs";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  ALLOW_FILTER_NAME,
  DENY_FILTER_NAME,
  HTTP_RBAC_TYPE_URL,
  NETWORK_RBAC_TYPE_URL,
  compileAll,
  denyAllFilter,
  formatProblem,
  hasErrors,
  loadPolicy,
  toTypedExtensionConfig,
  type CompiledFilter,
  type FilterKind,
  type Policy,
} from "../../authz/index.js";
import type { Logger } from "../../common/logger.js";
import type { Caller, ExtensionConfigSource } from "../../sds/contracts.js";

export interface PolicySourceOptions {
  /** The policy file (YAML, docs/authz.md). */
  path: string;
  logger: Logger;
  /** Which RBAC filter type to serve; HTTP unless the Envoys use the network filter. */
  filter?: FilterKind;
  /** The service key (usually the default SPIFFE ID) of the Envoy on the other end of a stream. */
  serviceFor(caller: Caller): string | undefined | Promise<string | undefined>;
  /** How often the file is checked for changes, in ms (default 500). */
  pollIntervalMs?: number;
}

export interface PolicySource extends ExtensionConfigSource {
  /** Reads and compiles the file now. Resolves true when a new policy was accepted. */
  reload(): Promise<boolean>;
  /** A counter bumped on every accepted policy that changed compiled output (0 = none yet). */
  readonly generation: number;
  /** Starts watching the file; the first load must succeed or start() rejects with the problems. */
  start(): Promise<void>;
  /**
   * The callers' identities changed (an agent sync): streams on the generic names re-resolve which
   * service they are, and get a push only if that changes what they are served.
   */
  callersChanged(): void;
  close(): void;
}

interface Compiled {
  /** `<service>` -> [deny, allow] typed configs, plus their JSON for change detection. */
  services: Map<string, { deny: Any; allow: Any; json: string }>;
}

const NAMES = [DENY_FILTER_NAME, ALLOW_FILTER_NAME] as const;

export function createPolicySource(options: PolicySourceOptions): PolicySource {
  const filter = options.filter ?? "http";
  const log = options.logger.child({ component: "authz-ecds", policy: options.path });
  const listeners = new Set<(names: readonly string[]) => void>();
  const failClosed = failClosedPair(filter);
  let current: Compiled | undefined;
  let generation = 0;
  // Streams re-resolve on every cache change: the "no policy" warning is logged once per service
  // (or selector set, for an Envoy that is no service) and policy generation, then at debug.
  const warned = new Set<string>();
  let lastRejectedText: string | undefined;
  let watching = false;
  let reloading: Promise<boolean> | undefined;

  function compile(policy: Policy): Compiled {
    const services = new Map<string, { deny: Any; allow: Any; json: string }>();
    for (const result of compileAll(policy, { filter })) {
      for (const w of result.warnings) log.warn({ service: result.service }, formatProblem(w));
      const [deny, allow] = result.filters as [CompiledFilter, CompiledFilter];
      services.set(result.service, {
        deny: toTypedExtensionConfig(deny).typedConfig!,
        allow: toTypedExtensionConfig(allow).typedConfig!,
        json: JSON.stringify(result.filters),
      });
    }
    return { services };
  }

  async function load(): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(options.path, "utf8");
    } catch (err) {
      log.error({ err: (err as Error).message }, "cannot read the policy file; keeping the last good policy");
      if (current === undefined) throw err;
      return false;
    }
    const loaded = loadPolicy(text, options.path);
    if (loaded.policy === undefined || hasErrors(loaded.problems)) {
      if (text !== lastRejectedText) {
        lastRejectedText = text;
        log.error(
          { problems: loaded.problems.map(formatProblem) },
          current === undefined ? "policy file is invalid" : "policy edit rejected; Envoys keep the last good policy",
        );
      }
      if (current === undefined) throw new Error(`${options.path} is invalid:\n${loaded.problems.map(formatProblem).join("\n")}`);
      return false;
    }
    lastRejectedText = undefined;
    const next = compile(loaded.policy);
    const changed = changedServices(current, next);
    if (current !== undefined && changed.length === 0) return false;
    current = next;
    generation++;
    warned.clear();
    log.info({ generation, services: next.services.size, changed }, "policy loaded");
    // Streams keyed by the generic names serve per-caller services: notify them on any change.
    const names = [...NAMES, ...changed.flatMap((s) => NAMES.map((n) => `${n}/${s}`))];
    for (const l of listeners) l(names);
    return true;
  }

  function reload(): Promise<boolean> {
    // Serialise reloads so a slow read never overwrites a newer one.
    const run = (reloading ?? Promise.resolve(false)).catch(() => false).then(load);
    reloading = run;
    return run;
  }

  const onFileChange = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size && curr.ino === prev.ino) return;
    reload().catch((err: unknown) => log.error({ err: (err as Error).message }, "policy reload failed"));
  };

  return {
    get generation() {
      return generation;
    },
    reload,
    async start() {
      await reload();
      if (!watching) {
        // watchFile polls stat(): it survives editors that replace the file by rename, which
        // inotify-based fs.watch on the file itself does not.
        watchFile(options.path, { interval: options.pollIntervalMs ?? 500, persistent: false }, onFileChange);
        watching = true;
      }
    },
    close() {
      if (watching) unwatchFile(options.path, onFileChange);
      watching = false;
      listeners.clear();
    },
    async get(name: string, caller: Caller): Promise<Any | undefined> {
      const slash = name.indexOf("/");
      const base = slash === -1 ? name : name.slice(0, slash);
      if (base !== DENY_FILTER_NAME && base !== ALLOW_FILTER_NAME) return undefined;
      const service = slash === -1 ? await options.serviceFor(caller) : name.slice(slash + 1);
      const compiled = service === undefined ? undefined : current?.services.get(service);
      if (compiled === undefined) {
        const key = `${base}\u0000${service ?? caller.selectors.join(",")}`;
        const level = warned.has(key) ? "debug" : "warn";
        if (warned.size >= 10_000) warned.clear();
        warned.add(key);
        log[level]({ name, service, selectors: caller.selectors }, "no policy for this service; serving deny-all");
        return base === DENY_FILTER_NAME ? failClosed.deny : failClosed.allow;
      }
      return base === DENY_FILTER_NAME ? compiled.deny : compiled.allow;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    callersChanged() {
      for (const l of listeners) l(NAMES);
    },
  };
}

function changedServices(prev: Compiled | undefined, next: Compiled): string[] {
  const keys = new Set([...(prev?.services.keys() ?? []), ...next.services.keys()]);
  return [...keys].filter((k) => prev?.services.get(k)?.json !== next.services.get(k)?.json).sort();
}

/** A neutral DENY filter (no policies: denies nothing) and the deny-all ALLOW filter. */
function failClosedPair(filter: FilterKind): { deny: Any; allow: Any } {
  const allow = denyAllFilter(filter);
  const prefix = "spindle_authz.default.deny.";
  const rules = { action: "DENY" as const, policies: {} };
  const deny: CompiledFilter = {
    name: DENY_FILTER_NAME,
    typed_config:
      allow.typed_config["@type"] === HTTP_RBAC_TYPE_URL
        ? { "@type": HTTP_RBAC_TYPE_URL, rules, rules_stat_prefix: prefix, track_per_rule_stats: true }
        : { "@type": NETWORK_RBAC_TYPE_URL, rules, stat_prefix: prefix },
  };
  return { deny: toTypedExtensionConfig(deny).typedConfig!, allow: toTypedExtensionConfig(allow).typedConfig! };
}
