import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import hpack from "hpack.js";
import { MalformedHttp2Error, createAuthorityRewriter, wrapWithAuthorityRewrite } from "./h2-authority-rewrite.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const SOCKET_PATH = "/tmp/spindle-test/api.sock";

type Headers = [string, string][];

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/** The client's HPACK encoder: incremental indexing and Huffman, so later blocks reference its dynamic table. */
function clientEncoder() {
  const c = hpack.compressor.create({ table: { maxSize: 4096 } });
  return (headers: Headers): Buffer => {
    c.write(headers.map(([name, value]) => ({ name, value })));
    const out: Buffer[] = [];
    for (let chunk = c.read(); chunk !== null; chunk = c.read()) out.push(chunk);
    return Buffer.concat(out);
  };
}

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

function parseFrames(bytes: Buffer): Frame[] {
  assert.ok(bytes.subarray(0, 24).equals(PREFACE), "the preface is passed through");
  const frames: Frame[] = [];
  for (let at = 24; at < bytes.length; ) {
    const length = bytes.readUIntBE(at, 3);
    frames.push({ type: bytes[at + 3]!, flags: bytes[at + 4]!, stream: bytes.readUInt32BE(at + 5), payload: bytes.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}

/** Plays nghttp2: decodes the header blocks of the rewritten byte stream with one decoder for the connection. */
function serverView(bytes: Buffer): { frames: Frame[]; blocks: Headers[] } {
  const d = hpack.decompressor.create({ table: { maxSize: 4096 } });
  const frames = parseFrames(bytes);
  const blocks: Headers[] = [];
  let pending: Buffer[] = [];
  for (const f of frames) {
    if (f.type !== 1 && f.type !== 9) continue;
    let p = f.payload;
    if (f.type === 1) {
      let start = 0;
      let end = p.length;
      if (f.flags & 0x8) {
        start = 1;
        end -= p[0]!;
      }
      if (f.flags & 0x20) start += 5;
      p = p.subarray(start, end);
    }
    pending.push(p);
    if (f.flags & 0x4) {
      d.write(Buffer.concat(pending));
      d.execute();
      const headers: Headers = [];
      for (let h = d.read(); h !== null; h = d.read()) headers.push([h.name, h.value]);
      blocks.push(headers);
      pending = [];
    }
  }
  return { frames, blocks };
}

function feed(input: Buffer, chunkSize = input.length, onRewrite?: (a: string) => void): Buffer {
  const r = createAuthorityRewriter(onRewrite ? { onRewrite } : {});
  const out: Buffer[] = [];
  for (let at = 0; at < input.length; at += chunkSize) out.push(...r.push(input.subarray(at, at + chunkSize)));
  return Buffer.concat(out);
}

const request = (authority: string, path = "/SpiffeWorkloadAPI/FetchX509SVID"): Headers => [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", path],
  [":authority", authority],
  ["content-type", "application/grpc"],
  ["workload.spiffe.io", "true"],
];

describe("h2-authority-rewrite", () => {
  it("passes a connection whose authorities are acceptable through byte for byte, however it is chunked", () => {
    const enc = clientEncoder();
    const input = Buffer.concat([
      PREFACE,
      frame(4, 0, 0, Buffer.alloc(6)), // SETTINGS
      frame(1, 0x4, 1, enc(request("localhost"))),
      frame(0, 0x1, 1, Buffer.from("hello")),
      frame(1, 0x4 | 0x1, 3, enc(request("localhost:8081"))),
      frame(1, 0x4, 5, enc(request("[::1]:443"))),
    ]);
    let rewrites = 0;
    for (const size of [input.length, 1, 7, 10]) assert.ok(feed(input, size, () => rewrites++).equals(input), `chunks of ${size}`);
    assert.equal(rewrites, 0);
  });

  it("rewrites a path authority to localhost and keeps later blocks decodable against the client's dynamic table", () => {
    const enc = clientEncoder();
    const data = Buffer.alloc(40_000, 7);
    const input = Buffer.concat([
      PREFACE,
      // A first block with an acceptable authority is passed through: the server learns its table entries.
      frame(1, 0x4, 1, enc(request("localhost", "/first"))),
      frame(1, 0x4, 3, enc(request(SOCKET_PATH))),
      frame(0, 0x0, 3, data),
      // These reference entries the client indexed in both earlier blocks.
      frame(1, 0x4 | 0x1, 5, enc(request(SOCKET_PATH))),
      frame(1, 0x4, 7, enc(request("localhost", "/first"))),
      frame(1, 0x4 | 0x1, 3, enc([["grpc-status", "0"]])),
    ]);
    for (const size of [input.length, 3, 1000]) {
      const seen: string[] = [];
      const output = feed(input, size, (a) => seen.push(a));
      assert.deepEqual(seen, [SOCKET_PATH], "onRewrite is called once per connection");
      const { frames, blocks } = serverView(output);
      assert.deepEqual(blocks, [
        request("localhost", "/first"),
        request("localhost"),
        request("localhost"),
        request("localhost", "/first"),
        [["grpc-status", "0"]],
      ]);
      const dataFrame = frames.find((f) => f.type === 0);
      assert.ok(dataFrame?.payload.equals(data), "DATA is forwarded unchanged");
      const headerFrames = frames.filter((f) => f.type === 1);
      assert.deepEqual(
        headerFrames.map((f) => [f.stream, f.flags & 0x1]),
        [
          [1, 0],
          [3, 0],
          [5, 1],
          [7, 0],
          [3, 1],
        ],
        "stream ids and END_STREAM are kept",
      );
    }
  });

  it("assembles HEADERS + CONTINUATION with padding and priority, and splits a large rewritten block at 16384 bytes", () => {
    const enc = clientEncoder();
    const big = "a".repeat(20_000);
    const block = enc([...request(SOCKET_PATH), ["x-big", big]]);
    const priority = Buffer.from([0x80, 0, 0, 1, 200]); // exclusive, depends on stream 1, weight 201
    const cut = 100;
    const pad = 9;
    const headersPayload = Buffer.concat([Buffer.from([pad]), priority, block.subarray(0, cut), Buffer.alloc(pad)]);
    const input = Buffer.concat([
      PREFACE,
      frame(1, 0x8 | 0x20 | 0x1, 3, headersPayload),
      frame(9, 0, 3, block.subarray(cut, cut + 50)),
      frame(9, 0x4, 3, block.subarray(cut + 50)),
    ]);
    const { frames, blocks } = serverView(feed(input, 4096));
    assert.deepEqual(blocks, [[...request("localhost"), ["x-big", big]]]);
    assert.ok(frames.length >= 2);
    const [first, ...rest] = frames;
    assert.equal(first!.type, 1);
    assert.equal(first!.flags, 0x20 | 0x1, "PRIORITY and END_STREAM kept, PADDED dropped, END_HEADERS not yet");
    assert.ok(first!.payload.subarray(0, 5).equals(priority));
    for (const f of frames) assert.ok(f.payload.length <= 16384, `frame of ${f.payload.length} bytes`);
    assert.ok(rest.every((f) => f.type === 9 && f.stream === 3));
    assert.deepEqual(
      rest.map((f) => f.flags),
      [...rest.slice(0, -1).map(() => 0), 0x4],
    );
  });

  it("passes a padded, split block without a rewrite through unchanged", () => {
    const enc = clientEncoder();
    const block = enc(request("localhost"));
    const input = Buffer.concat([
      PREFACE,
      frame(1, 0x8, 1, Buffer.concat([Buffer.from([3]), block.subarray(0, 5), Buffer.alloc(3)])),
      frame(9, 0x4, 1, block.subarray(5)),
    ]);
    assert.ok(feed(input, 2).equals(input));
  });

  it("rejects malformed input", () => {
    const enc = clientEncoder();
    const cases: [string, Buffer, RegExp][] = [
      ["bad preface", Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), /preface/],
      ["oversized block", Buffer.concat([PREFACE, frame(1, 0, 1, Buffer.alloc(40_000)), frame(9, 0, 1, Buffer.alloc(30_000))]), /larger than 65536/],
      ["HPACK index out of range", Buffer.concat([PREFACE, frame(1, 0x4, 1, Buffer.from([0xff, 0x80, 0x01]))]), /HPACK/],
      ["truncated HPACK string", Buffer.concat([PREFACE, frame(1, 0x4, 1, Buffer.from([0x00, 0x05, 0x61]))]), /HPACK/],
      ["interrupted block", Buffer.concat([PREFACE, frame(1, 0, 1, enc(request("localhost"))), frame(0, 0, 1, Buffer.from("x"))]), /interrupted/],
      ["CONTINUATION alone", Buffer.concat([PREFACE, frame(9, 0x4, 1, Buffer.alloc(0))]), /CONTINUATION without HEADERS/],
      ["padding longer than the frame", Buffer.concat([PREFACE, frame(1, 0x8 | 0x4, 1, Buffer.from([10, 0x82]))]), /padding/],
    ];
    for (const [what, input, message] of cases) {
      assert.throws(() => feed(input), (err: unknown) => err instanceof MalformedHttp2Error && message.test(err.message), what);
    }
  });

  it("as a Duplex over a Unix socket: reads rewritten bytes, writes back unchanged, destroys the socket on malformed input", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spindle-h2rw-"));
    const server = net.createServer();
    try {
      await new Promise<void>((r) => server.listen(join(dir, "s.sock"), r));
      const accepted = once(server, "connection") as Promise<[net.Socket]>;
      const client = net.connect(join(dir, "s.sock"));
      const [socket] = await accepted;
      const wrapped = wrapWithAuthorityRewrite(socket);
      const received: Buffer[] = [];
      wrapped.on("data", (c: Buffer) => received.push(c));
      const enc = clientEncoder();
      const request1 = Buffer.concat([PREFACE, frame(1, 0x4, 1, enc(request(SOCKET_PATH)))]);
      client.write(request1);
      const reply = frame(4, 0x1, 0, Buffer.alloc(0));
      const echoed = once(client, "data") as Promise<[Buffer]>;
      wrapped.write(reply);
      assert.ok((await echoed)[0].equals(reply), "server->client bytes are written unchanged");
      await waitUntil(() => Buffer.concat(received).length > 24);
      assert.deepEqual(serverView(Buffer.concat(received)).blocks, [request("localhost")]);

      const failed = once(wrapped, "error") as Promise<[Error]>;
      client.write(frame(9, 0x4, 1, Buffer.alloc(0))); // CONTINUATION outside a block
      assert.match((await failed)[0].message, /CONTINUATION without HEADERS/);
      await once(client, "close");
      assert.ok(socket.destroyed, "the accepted socket is destroyed");
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("after the client hung up, late server writes and the end are dropped without an error (a shutdown's GOAWAY)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "spindle-h2rw-"));
    const server = net.createServer();
    try {
      await new Promise<void>((r) => server.listen(join(dir, "s.sock"), r));
      const accepted = once(server, "connection") as Promise<[net.Socket]>;
      const client = net.connect(join(dir, "s.sock"));
      const [socket] = await accepted;
      const wrapped = wrapWithAuthorityRewrite(socket);
      const errors: Error[] = [];
      wrapped.on("error", (e: Error) => errors.push(e));
      wrapped.resume();
      client.write(PREFACE);
      client.end();
      await once(socket, "end");
      await waitUntil(() => !socket.writable);
      await new Promise<void>((resolve, reject) => wrapped.write(frame(8, 0x7, 0, Buffer.alloc(8)), (err) => (err ? reject(err) : resolve())));
      await new Promise<void>((resolve) => wrapped.end(resolve));
      assert.deepEqual(errors, []);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function waitUntil(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out after 2000 ms");
    await new Promise((r) => setTimeout(r, 5));
  }
}
