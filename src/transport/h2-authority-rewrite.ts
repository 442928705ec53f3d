// Client->server HTTP/2 byte transform for the agent's Unix socket (grpc-socket-server.ts).
// grpc-java over a Unix socket sends the socket's path as `:authority`; nghttp2 (Node's HTTP/2)
// rejects an authority containing `/` and resets the stream with PROTOCOL_ERROR, and Node 20 has
// no switch for that check. Every client byte passes through us before nghttp2 sees it, so we
// parse the frames, HPACK-decode each header block with a per-connection decoder, and:
// - while no rewrite was ever needed on the connection, forward the client's original frames, so
//   nghttp2's HPACK dynamic table stays the client's;
// - once a block's `:authority` has a character outside RFC 3986's authority set, replace it with
//   `localhost` and from then on re-encode every header block of the connection ourselves, with
//   literals that never touch the dynamic table (nghttp2's table then simply goes unused).
// Non-header frames are forwarded as slices of the incoming chunks (DATA is never copied).
import { Duplex } from "node:stream";
import hpack from "hpack.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_PUSH_PROMISE = 0x5;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE's initial value; Node's server does not raise it. */
const OUT_MAX_FRAME = 16384;
/** RFC 3986 authority = [userinfo "@"] host [":" port]; nghttp2 accepts exactly these characters. */
const AUTHORITY_OK = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]*$/;

export const REWRITTEN_AUTHORITY = "localhost";

export interface AuthorityRewriterOptions {
  /** Largest header block (all HEADERS + CONTINUATION payload) accepted; default 64 KiB. */
  maxHeaderBlockBytes?: number;
  /** Largest HPACK dynamic table the client may ask for; default 64 KiB (nghttp2 enforces its own limit). */
  maxTableSize?: number;
  /** Called once, the first time an authority is rewritten on this connection. */
  onRewrite?: (authority: string) => void;
}

export interface AuthorityRewriter {
  /** Feeds client bytes; returns the bytes to hand to the HTTP/2 server. Throws on malformed input. */
  push(chunk: Buffer): Buffer[];
  /** True once this connection's header blocks are re-encoded. */
  readonly rewriting: boolean;
}

interface Header {
  name: string;
  value: string;
  neverIndex: boolean;
}

export class MalformedHttp2Error extends Error {
  override name = "MalformedHttp2Error";
}

export function createAuthorityRewriter(options: AuthorityRewriterOptions = {}): AuthorityRewriter {
  const maxBlock = options.maxHeaderBlockBytes ?? 64 * 1024;
  const decoder = hpack.decoder.create();
  const table = hpack.table.create({ maxSize: options.maxTableSize ?? 64 * 1024 });
  let prefaceSeen = 0;
  let rewriting = false;
  // Frame parsing state.
  const head = Buffer.alloc(FRAME_HEADER);
  let headFill = 0;
  let remaining = 0; // payload bytes left of the current frame
  let passThrough = false; // current frame is forwarded as it comes
  // Header block being assembled: the original frames and each frame's payload.
  let blockFrames: Buffer[] = [];
  let blockBytes = 0;
  let blockStream = 0;
  let blockFlags = 0;
  let payload: Buffer | undefined;
  let payloadFill = 0;
  let payloadType = 0;
  let fragments: Buffer[] = [];
  let priority: Buffer | undefined;

  const fail = (why: string): never => {
    throw new MalformedHttp2Error(`malformed HTTP/2 from client: ${why}`);
  };

  function startFrame(out: Buffer[]): void {
    const length = head.readUIntBE(0, 3);
    const type = head[3]!;
    const flags = head[4]!;
    const stream = head.readUInt32BE(5) & 0x7fffffff;
    const inBlock = blockFrames.length > 0;
    if (inBlock && (type !== TYPE_CONTINUATION || stream !== blockStream)) fail("header block interrupted by another frame");
    if (type === TYPE_PUSH_PROMISE) fail("PUSH_PROMISE sent by a client");
    if (type === TYPE_HEADERS || type === TYPE_CONTINUATION) {
      if (type === TYPE_CONTINUATION && !inBlock) fail("CONTINUATION without HEADERS");
      if (stream === 0) fail("header frame on stream 0");
      blockBytes += length;
      if (blockBytes > maxBlock) fail(`header block larger than ${maxBlock} bytes`);
      if (type === TYPE_HEADERS) {
        blockStream = stream;
        blockFlags = flags;
      } else {
        blockFlags |= flags & FLAG_END_HEADERS;
      }
      payloadType = type;
      payload = Buffer.allocUnsafe(length);
      payloadFill = 0;
      passThrough = false;
      remaining = length;
      blockFrames.push(Buffer.from(head));
      if (length === 0) endFrame(out, flags);
      return;
    }
    out.push(Buffer.from(head));
    passThrough = true;
    remaining = length;
  }

  function endFrame(out: Buffer[], flags: number): void {
    const frame = payload!;
    payload = undefined;
    blockFrames.push(frame);
    let fragment = frame;
    if (payloadType === TYPE_HEADERS) {
      let start = 0;
      let end = frame.length;
      if (flags & FLAG_PADDED) {
        if (frame.length < 1) fail("PADDED HEADERS without a pad length");
        start = 1;
        end -= frame[0]!;
      }
      if (flags & FLAG_PRIORITY) {
        priority = Buffer.from(frame.subarray(start, start + 5));
        start += 5;
      }
      if (end < start) fail("HEADERS padding longer than the frame");
      fragment = frame.subarray(start, end);
    }
    fragments.push(fragment);
    if (flags & FLAG_END_HEADERS) finishBlock(out);
  }

  function finishBlock(out: Buffer[]): void {
    const headers = decodeBlock(fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments));
    let changed = false;
    for (const h of headers) {
      if (h.name === ":authority" && !AUTHORITY_OK.test(h.value)) {
        if (!rewriting) options.onRewrite?.(h.value);
        h.value = REWRITTEN_AUTHORITY;
        changed = true;
      }
    }
    if (changed) rewriting = true;
    if (rewriting) {
      for (const frame of encodeFrames(blockStream, blockFlags & FLAG_END_STREAM, priority, encodeBlock(headers))) out.push(frame);
    } else {
      for (const frame of blockFrames) out.push(frame);
    }
    blockFrames = [];
    fragments = [];
    blockBytes = 0;
    priority = undefined;
  }

  function decodeBlock(block: Buffer): Header[] {
    const headers: Header[] = [];
    try {
      if (block.length === 0) return headers;
      decoder.push(block);
      while (!decoder.isEmpty()) {
        if (decoder.decodeBit()) {
          const entry = lookup(decoder.decodeInt());
          headers.push({ name: entry.name, value: entry.value, neverIndex: false });
          continue;
        }
        const incremental = decoder.decodeBit();
        let neverIndex = false;
        if (!incremental) {
          if (decoder.decodeBit()) {
            table.updateSize(decoder.decodeInt());
            continue;
          }
          neverIndex = decoder.decodeBit() === 1;
        }
        const index = decoder.decodeInt();
        let name: string;
        let nameSize: number;
        if (index === 0) {
          const raw = decoder.decodeStr();
          nameSize = raw.length;
          name = hpack.utils.stringify(raw);
        } else {
          const entry = lookup(index);
          name = entry.name;
          nameSize = entry.nameSize;
        }
        const raw = decoder.decodeStr();
        const value = hpack.utils.stringify(raw);
        if (incremental) table.add(name, value, nameSize, raw.length);
        headers.push({ name, value, neverIndex });
      }
    } catch (err) {
      if (err instanceof MalformedHttp2Error) throw err;
      fail(`HPACK decoding failed (${(err as Error).message})`);
    }
    return headers;
  }

  function lookup(index: number) {
    const entry = table.lookup(index);
    return entry ?? fail(`HPACK index ${index} is not in the table`);
  }

  return {
    get rewriting() {
      return rewriting;
    },
    push(chunk) {
      const out: Buffer[] = [];
      let at = 0;
      if (prefaceSeen < PREFACE.length) {
        const n = Math.min(PREFACE.length - prefaceSeen, chunk.length);
        if (!chunk.subarray(0, n).equals(PREFACE.subarray(prefaceSeen, prefaceSeen + n))) fail("bad connection preface");
        out.push(chunk.subarray(0, n));
        prefaceSeen += n;
        at = n;
      }
      while (at < chunk.length) {
        if (remaining === 0 && headFill < FRAME_HEADER) {
          const n = Math.min(FRAME_HEADER - headFill, chunk.length - at);
          chunk.copy(head, headFill, at, at + n);
          headFill += n;
          at += n;
          if (headFill < FRAME_HEADER) break;
          startFrame(out);
          if (remaining === 0) headFill = 0;
          continue;
        }
        const n = Math.min(remaining, chunk.length - at);
        if (passThrough) {
          out.push(chunk.subarray(at, at + n));
        } else {
          chunk.copy(payload!, payloadFill, at, at + n);
          payloadFill += n;
        }
        at += n;
        remaining -= n;
        if (remaining === 0) {
          if (!passThrough) endFrame(out, head[4]!);
          headFill = 0;
        }
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HPACK encoding (RFC 7541): only literals without indexing (or never indexed, as the client
// marked them), names and values as raw octets. No dynamic table, so no state to keep in sync.

function encodeInt(out: number[], first: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

function encodeString(out: number[], text: string): void {
  encodeInt(out, 0, 7, text.length);
  for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i) & 0xff);
}

export function encodeBlock(headers: readonly Header[]): Buffer {
  const out: number[] = [];
  for (const h of headers) {
    encodeInt(out, h.neverIndex ? 0x10 : 0x00, 4, 0);
    encodeString(out, h.name);
    encodeString(out, h.value);
  }
  return Buffer.from(out);
}

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const head = Buffer.alloc(FRAME_HEADER);
  head.writeUIntBE(length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return head;
}

/** HEADERS (+ CONTINUATION) frames carrying `block`, none longer than the default max frame size. */
export function encodeFrames(stream: number, endStream: number, priority: Buffer | undefined, block: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  const firstRoom = OUT_MAX_FRAME - (priority ? 5 : 0);
  const first = block.subarray(0, firstRoom);
  const last = block.length <= firstRoom;
  const flags = endStream | (priority ? FLAG_PRIORITY : 0) | (last ? FLAG_END_HEADERS : 0);
  frames.push(frameHeader(first.length + (priority ? 5 : 0), TYPE_HEADERS, flags, stream));
  if (priority) frames.push(priority);
  frames.push(first);
  for (let at = firstRoom; at < block.length; at += OUT_MAX_FRAME) {
    const piece = block.subarray(at, at + OUT_MAX_FRAME);
    const end = at + OUT_MAX_FRAME >= block.length;
    frames.push(frameHeader(piece.length, TYPE_CONTINUATION, end ? FLAG_END_HEADERS : 0, stream));
    frames.push(piece);
  }
  return frames;
}

/**
 * A Duplex standing in for `socket` in front of the HTTP/2 server: reads are the client's bytes
 * after the authority rewrite, writes go to `socket` unchanged. Malformed client input destroys
 * both. `remoteAddress` (the peer tag grpc-socket-server.ts sets) is copied by the caller.
 */
export function wrapWithAuthorityRewrite(socket: Duplex, options: AuthorityRewriterOptions = {}): Duplex {
  const rewriter = createAuthorityRewriter(options);
  const wrapped: Duplex = new Duplex({
    read() {
      socket.resume();
    },
    // Once the client has hung up (its FIN ended the socket, or it is destroyed), late server bytes
    // such as the GOAWAY of a shutdown have nowhere to go: they are dropped, as the kernel would.
    write(chunk: Buffer, _encoding, callback) {
      if (!socket.writable) callback();
      else socket.write(chunk, callback);
    },
    final(callback) {
      if (!socket.writable) callback();
      else socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  socket.on("data", (chunk: Buffer) => {
    let out: Buffer[];
    try {
      out = rewriter.push(chunk);
    } catch (err) {
      wrapped.destroy(err as Error);
      return;
    }
    let more = true;
    for (const piece of out) more = wrapped.push(piece) && more;
    if (!more) socket.pause();
  });
  socket.on("end", () => wrapped.push(null));
  socket.on("error", (err) => wrapped.destroy(err));
  socket.on("close", () => wrapped.destroy());
  return wrapped;
}
