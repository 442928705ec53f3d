// Test-only: an identity cache and sync loop wired to the in-process test server, a log capture,
// and a way to move the fake clock while letting the loop's asynchronous rounds (key generation
// runs on the thread pool) finish between steps. Never imported by production code.
import { createLogger, type Logger } from "../../src/common/logger.js";
import { createIdentityCache, type CacheChange, type IdentityCache } from "../../src/agent/cache/identity-cache.js";
import { seededRandom, type TestServer } from "./fake-agent-server.js";
import type { WorkloadKeyType } from "../../src/agent/cache/workload-key.js";
import { createSyncLoop, type SyncLoop } from "../../src/agent/sync/sync-loop.js";

export interface LogLine {
  level: string;
  msg: string;
  component?: string;
  [field: string]: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger({ level: "debug", destination: { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) } });
  return { logger, lines };
}

export interface AgentHarness {
  server: TestServer;
  cache: IdentityCache;
  loop: SyncLoop;
  lines: LogLine[];
  changes: CacheChange[];
  /** Waits until no sync round or renewal pass is in progress. */
  settle(): Promise<void>;
  /** Advances the fake clock by `ms` in `stepMs` steps, settling after each. */
  advance(ms: number, stepMs?: number): Promise<void>;
}

export function createAgentHarness(server: TestServer, options: { intervalMs?: number; keyType?: WorkloadKeyType; random?: () => number } = {}): AgentHarness {
  const { logger, lines } = captureLogger();
  const random = options.random ?? seededRandom();
  const cache = createIdentityCache({ client: server, clock: server.clock, logger, random, keyType: options.keyType });
  const pending = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    const done = () => void pending.delete(p);
    p.then(done, done);
    return p;
  };
  const loop = createSyncLoop({
    client: { syncEntries: (known) => track(server.syncEntries(known)) },
    cache: {
      knownRevisions: () => cache.knownRevisions(),
      applySync: (r) => cache.applySync(r),
      renewDue: () => track(cache.renewDue()),
      markReady: () => cache.markReady(),
    },
    clock: server.clock,
    logger,
    intervalMs: options.intervalMs,
    random,
  });
  const changes: CacheChange[] = [];
  cache.onChange((c) => changes.push(c));

  async function settle(): Promise<void> {
    do {
      await Promise.allSettled([...pending]);
      await new Promise((resolve) => setImmediate(resolve));
    } while (pending.size > 0);
  }

  return {
    server,
    cache,
    loop,
    lines,
    changes,
    settle,
    async advance(ms, stepMs = 1000) {
      for (let done = 0; done < ms; done += stepMs) {
        server.clock.advance(Math.min(stepMs, ms - done));
        await settle();
      }
    },
  };
}
