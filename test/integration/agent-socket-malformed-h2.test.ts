// Any local user may connect to the agent's public socket (mode 0777), so no byte sequence on one
// connection may take the agent down. The case: a HEADERS frame with the socket path as
// :authority (the rewrite path of h2-authority-rewrite.ts) and no gRPC content-type, DATA, the
// client's RST_STREAM and a truncated frame, all in one write, on many connections at once. The
// stream is closed before grpc-js is handed it; answering it used to throw ERR_HTTP2_INVALID_STREAM
// out of the event loop. The agent runs in its own process so a crash is seen as its exit.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { FLAG, FRAME, PREFACE, frame, grpcMessage, literalBlock, sendRaw, startSocketTarget, type SocketTarget } from "../fuzz/harness.js";

let target: SocketTarget;
before(async () => {
  target = await startSocketTarget();
});
after(() => target.stop());

function connectionBytes(socketPath: string, contentType: string | undefined, rstCode: number): Buffer {
  const headers: [string, string][] = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/SpiffeWorkloadAPI/FetchX509SVID"],
    [":authority", socketPath],
  ];
  if (contentType !== undefined) headers.push(["content-type", contentType]);
  const rst = Buffer.alloc(4);
  rst.writeUInt32BE(rstCode);
  return Buffer.concat([
    PREFACE,
    frame(FRAME.SETTINGS, 0, 0),
    frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, literalBlock(headers)),
    frame(FRAME.DATA, 0, 1, grpcMessage(Buffer.from([1, 2, 3, 4, 5]))),
    frame(FRAME.RST_STREAM, 0, 1, rst),
    frame(FRAME.DATA, 0, 1, Buffer.alloc(50)).subarray(0, 12),
  ]);
}

it("survives concurrent connections whose stream is reset in the chunk that opened it, and keeps serving SVIDs", async () => {
  const variants = [undefined, "text/plain", "application/grpc"].flatMap((ct) => [0x1, 0x2, 0x8].map((code) => connectionBytes(target.socketPath, ct, code)));
  const connections = 2_000;
  const concurrency = 50;
  let sent = 0;
  while (sent < connections && target.alive()) {
    const batch = Array.from({ length: concurrency }, (_, i) => sendRaw(target.socketPath, [variants[(sent + i) % variants.length]!], 10_000, i % 2 === 0 ? "end" : "destroy"));
    await Promise.all(batch);
    sent += concurrency;
  }
  assert.ok(target.alive(), `the agent died after ${sent} connections:\n${target.stderr()}`);
  assert.doesNotMatch(target.stderr(), /ERR_HTTP2_INVALID_STREAM|uncaught/i);
  await target.assertServesSvid();
});
