// Peer credentials of a connected Unix socket (Workload API standard, section 4.1): Linux
// getsockopt(SOL_SOCKET, SO_PEERCRED) read through koffi, so no native addon has to be compiled.
// The kernel records the credentials at connect() time; they cannot be forged by the peer.
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { spindleError } from "../common/errors.js";

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** Reads the peer credentials of an accepted Unix-domain socket. */
export type PeerCredentialsReader = (socket: Socket) => PeerCredentials;

// <sys/socket.h> on Linux (the same values on x86_64 and aarch64).
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const UCRED_SIZE = 12; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }

interface KoffiLike {
  load(path: string): { func(signature: string): (...args: unknown[]) => unknown };
}

/**
 * Loads libc's getsockopt once and returns a reader. Throws ERR_PEER_CREDENTIALS when the
 * platform has no SO_PEERCRED (anything but Linux), so a misconfigured agent fails at start.
 */
export function createPeerCredentialsReader(): PeerCredentialsReader {
  if (process.platform !== "linux") {
    throw spindleError("ERR_PEER_CREDENTIALS", `SO_PEERCRED is only available on Linux, not ${process.platform}`);
  }
  let getsockopt: (fd: number, level: number, name: number, buf: Buffer, len: number[]) => number;
  try {
    // koffi is CommonJS with a prebuilt binary; createRequire keeps it out of the ESM graph.
    const koffi = createRequire(import.meta.url)("koffi") as KoffiLike;
    const libc = koffi.load("libc.so.6");
    getsockopt = libc.func("int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)") as typeof getsockopt;
  } catch (err) {
    throw spindleError("ERR_PEER_CREDENTIALS", "cannot load getsockopt from libc.so.6", { cause: err });
  }
  return (socket) => {
    const fd = socketFd(socket);
    const buf = Buffer.alloc(UCRED_SIZE);
    const len = [UCRED_SIZE];
    const rc = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len);
    if (rc !== 0 || len[0] !== UCRED_SIZE) {
      throw spindleError("ERR_PEER_CREDENTIALS", `getsockopt(SO_PEERCRED) failed on fd ${fd} (rc=${rc})`);
    }
    return Object.freeze({ pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) });
  };
}

function socketFd(socket: Socket): number {
  // net.Socket does not expose its descriptor publicly; the libuv pipe handle carries it.
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== "number" || fd < 0) {
    throw spindleError("ERR_PEER_CREDENTIALS", "the socket has no file descriptor (closed, or not a Unix socket)");
  }
  return fd;
}
