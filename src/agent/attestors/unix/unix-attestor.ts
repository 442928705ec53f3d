// The `unix` workload attestor: selectors from the calling process's credentials, user and group
// names and executable (Workload API standard, section 4.1). The process's start time is
// read before and after everything else; if it changed, or the process is gone, the pid no longer
// names the process that connected and attestation fails rather than describe another process.
import type { Clock } from "../../../common/clock.js";
import { systemClock } from "../../../common/clock.js";
import { spindleError } from "../../../common/errors.js";
import { createLogRateLimiter, createSeenOnce, logLimited } from "../../../common/log-rate-limit.js";
import type { Logger } from "../../../common/logger.js";
import type { Selector } from "../../../spiffe/selector.js";
import { selectorOf, type SelectorKey } from "../../../spiffe/selector-schema.js";
import type { WorkloadAttestorPlugin } from "../plugin.js";
import { createAccountsReader } from "./accounts.js";
import { parseUnixAttestorConfig, type UnixAttestorConfig } from "./config.js";
import { createExecutableReader } from "./executable.js";
import { USER_HZ, readBootTime, readProcCredentials, readProcIdentity } from "./proc.js";

export const UNIX_ATTESTOR_NAME = "unix";

export interface UnixAttestorOptions {
  /** Parsed config, or the raw YAML block (parsed here). */
  config?: UnixAttestorConfig | unknown;
  logger: Logger;
  clock?: Clock;
  /** Default /proc. */
  procRoot?: string;
  /** Default /etc/passwd. */
  passwdPath?: string;
  /** Default /etc/group. */
  groupPath?: string;
}

function isParsed(c: unknown): c is UnixAttestorConfig {
  return typeof c === "object" && c !== null && "discoverWorkloadPath" in c && "workloadSizeLimit" in c;
}

const sel = (key: SelectorKey<typeof UNIX_ATTESTOR_NAME>, value: string | number): Selector => selectorOf(UNIX_ATTESTOR_NAME, key, String(value));

export function createUnixAttestor(options: UnixAttestorOptions): WorkloadAttestorPlugin {
  const config = isParsed(options.config) ? options.config : parseUnixAttestorConfig(options.config);
  const procRoot = options.procRoot ?? "/proc";
  const passwdPath = options.passwdPath ?? "/etc/passwd";
  const groupPath = options.groupPath ?? "/etc/group";
  const clock = options.clock ?? systemClock;
  const log = options.logger.child({ component: "attestor", attestor: UNIX_ATTESTOR_NAME });
  const executables = createExecutableReader({ procRoot, sizeLimit: config.workloadSizeLimit });
  const accountsReader = createAccountsReader(passwdPath, groupPath);
  // "No sha256 selector" is said once per binary (file identity), at debug; bounded memory.
  const unhashed = createSeenOnce();
  const warnings = createLogRateLimiter({ clock });
  let bootTime: number | undefined;

  return {
    name: UNIX_ATTESTOR_NAME,
    async attest(pid) {
      const requestedAt = clock.now();
      const before = await readProcIdentity(procRoot, pid);
      if (before.state === "Z" || before.state === "X") {
        throw spindleError("ERR_WORKLOAD_ATTESTATION", `pid ${pid} has exited (state ${before.state}); no identity for it`, { details: { pid } });
      }
      bootTime ??= await readBootTime(procRoot);
      // A process that started after the call arrived cannot have made it: the pid was recycled.
      const startedAt = (bootTime + before.startTicks / USER_HZ) * 1000;
      if (startedAt > requestedAt + 1000) {
        throw spindleError("ERR_WORKLOAD_ATTESTATION", `pid ${pid} names a process started after the call arrived (pid reused)`, { details: { pid } });
      }
      const creds = await readProcCredentials(procRoot, pid);
      const accounts = await accountsReader.read();
      const selectors: Selector[] = [sel("uid", creds.uid)];
      const user = accounts.userName(creds.uid);
      if (user !== undefined) selectors.push(sel("user", user));
      selectors.push(sel("gid", creds.gid));
      const group = accounts.groupName(creds.gid);
      if (group !== undefined) selectors.push(sel("group", group));
      for (const gid of new Set(creds.supplementaryGids)) {
        selectors.push(sel("supplementary_gid", gid));
        const name = accounts.groupName(gid);
        if (name !== undefined) selectors.push(sel("supplementary_group", name));
      }
      if (config.discoverWorkloadPath) {
        try {
          const exe = await executables.read(pid);
          selectors.push(sel("path", exe.path));
          if (exe.sha256 !== undefined) selectors.push(sel("sha256", exe.sha256));
          else if (unhashed.first(exe.fileKey)) log.debug({ pid, path: exe.path, reason: exe.skipped }, "no sha256 selector for this executable (said once per binary)");
        } catch (err) {
          // Selectors only ever grant: without them, entries that need them just do not match.
          const code = (err as NodeJS.ErrnoException).code;
          logLimited(warnings, `exe:${code ?? ""}`, log, "warn", { pid, code, err: (err as Error).message }, "cannot read the executable of the caller; no path or sha256 selector");
        }
      }
      const after = await readProcIdentity(procRoot, pid);
      if (after.startTicks !== before.startTicks || after.state === "Z" || after.state === "X") {
        throw spindleError("ERR_WORKLOAD_ATTESTATION", `pid ${pid} changed during attestation (exited or reused); no identity for it`, { details: { pid } });
      }
      return selectors;
    },
  };
}
