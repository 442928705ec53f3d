// Shared by the socket crash and fuzz suites: the agent socket of socket-target.ts in a child
// process, raw HTTP/2 framing, and the liveness check every batch ends with (the process is
// alive and a registered caller still receives an X.509-SVID that validates against its bundle).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { createWorkloadApiClient } from "../../src/workload-client/index.js";
import { createBundle, createBundleSet } from "../../src/spiffe/bundle.js";
import { parseTrustDomain } from "../../src/spiffe/trust-domain.js";
import { validateX509Svid } from "../../src/spiffe/x509-svid.js";

export const REGISTERED_ID = "spiffe://example.org/registered";
const TARGET = fileURLToPath(new URL("./socket-target.ts", import.meta.url));

export interface SocketTarget {
  readonly socketPath: string;
  readonly child: ChildProcess;
  /** Everything the target wrote to stderr (its warnings, or the crash). */
  stderr(): string;
  alive(): boolean;
  /** Resident set size of the target, bytes. */
  rss(): Promise<number>;
  /** Fetches the registered caller's X.509-SVID and validates it; throws when it cannot. */
  assertServesSvid(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts socket-target.ts; identities are granted to `registeredUid` only (default: ours). */
export async function startSocketTarget(registeredUid = process.getuid!()): Promise<SocketTarget> {
  const child = spawn(process.execPath, ["--import", "tsx", TARGET, String(registeredUid)], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => void (err = (err + d.toString()).slice(-20_000)));
  const lines: ((line: string) => void)[] = [];
  let buffered = "";
  child.stdout!.on("data", (d: Buffer) => {
    buffered += d.toString();
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      lines.shift()?.(line);
    }
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const nextLine = (timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket target did not answer within ${timeoutMs} ms:\n${err}`)), timeoutMs);
      lines.push((l) => (clearTimeout(timer), resolve(l)));
      void exited.then(() => (clearTimeout(timer), reject(new Error(`socket target exited (${child.exitCode ?? child.signalCode}):\n${err}`))));
    });
  const ready = await nextLine(60_000);
  const socketPath = /^ready (\S+)$/.exec(ready)?.[1];
  assert.ok(socketPath, `unexpected first line from the socket target: ${ready}`);
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    socketPath,
    child,
    stderr: () => err,
    alive,
    async rss() {
      child.stdin!.write("rss\n");
      const m = /^rss (\d+)/.exec(await nextLine(30_000));
      assert.ok(m, "the socket target reports its RSS");
      return Number(m[1]);
    },
    async assertServesSvid() {
      assert.ok(alive(), `the socket target is alive:\n${err}`);
      const client = createWorkloadApiClient({ address: socketPath, timeoutMs: 30_000 });
      try {
        const ctx = await client.fetchX509Context();
        const svid = ctx.svids[0];
        assert.equal(svid?.spiffeId, REGISTERED_ID);
        const td = parseTrustDomain("example.org");
        const info = validateX509Svid(svid.chainDer, createBundleSet([createBundle({ trustDomain: td, x509Authorities: svid.bundleDer })]), { now: Date.now() });
        assert.equal(info.spiffeId.toString(), REGISTERED_ID);
      } finally {
        client.close();
      }
    },
    async stop() {
      if (alive()) child.kill("SIGTERM");
      await exited;
    },
  };
}

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const FRAME = { DATA: 0x0, HEADERS: 0x1, PRIORITY: 0x2, RST_STREAM: 0x3, SETTINGS: 0x4, PUSH_PROMISE: 0x5, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export function frame(type: number, flags: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal header fields without indexing (RFC 7541 section 6.2.2), raw octet strings. */
export function literalBlock(headers: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  const int7 = (n: number) => {
    if (n < 127) return out.push(n);
    out.push(127);
    for (n -= 127; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) + 128);
    out.push(n);
  };
  for (const [name, value] of headers) {
    out.push(0x00);
    int7(Buffer.byteLength(name, "latin1"));
    out.push(...Buffer.from(name, "latin1"));
    int7(Buffer.byteLength(value, "latin1"));
    out.push(...Buffer.from(value, "latin1"));
  }
  return Buffer.from(out);
}

/** A gRPC length-prefixed message (gRPC over HTTP/2, "Length-Prefixed-Message"). */
export function grpcMessage(body: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/**
 * Opens a connection, writes `writes` (each one write call, so one chunk on the server side when
 * the kernel keeps them together), then ends it; settles when the server closed it or after
 * `timeoutMs`. Never rejects: the server refusing the bytes is the expected outcome.
 */
export function sendRaw(socketPath: string, writes: readonly Buffer[], timeoutMs = 5_000, hangUp: "end" | "destroy" = "end"): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.on("error", () => {});
    s.on("close", () => (clearTimeout(timer), resolve()));
    s.on("connect", () => {
      for (const w of writes) s.write(w);
      if (hangUp === "end") s.end();
      else setImmediate(() => s.destroy());
    });
    s.resume();
  });
}
