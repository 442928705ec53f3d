// `spindle api`: a SPIFFE Workload API client that works against any SPIFFE agent (plain grpc-js
// with the `workload.spiffe.io` header). The address is --socket-path, else SPIFFE_ENDPOINT_SOCKET,
// else the Spindle agent's default socket.
import { InvalidArgumentError, Option, type Command } from "commander";
import { createBackoff } from "../../common/backoff.js";
import { GrpcStatus as grpcStatus, SpindleError } from "../../common/errors.js";
import { decodeJwtSvidParts } from "../../spiffe/index.js";
import { createWorkloadApiClient, workloadApiTarget, type WorkloadApiClient } from "../../workload-client/index.js";
import { defaultWorkloadSocket } from "../config/socket-defaults.js";
import { CliExit, errorLine, type CliIO } from "../io.js";
import { bundlesText, writeX509Files, x509ContextJson, x509ContextText } from "./api-render.js";

interface ApiOptions {
  socketPath?: string;
  socketOwner?: number[];
  output: "json" | "text";
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function uidList(value: string, previous: number[] = []): number[] {
  const uid = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(uid)) throw new InvalidArgumentError(`--socket-owner must be a numeric uid, got ${JSON.stringify(value)}`);
  return [...previous, uid];
}

function addApiOptions(cmd: Command): Command {
  return cmd
    .option("--socket-path <address>", "Workload API address: /abs/path, unix:///abs/path or tcp://ip:port (default: $SPIFFE_ENDPOINT_SOCKET, else this user's agent socket when it exists, else /run/spindle/agent/public/api.sock)")
    .option("--socket-owner <uid>", "also trust socket directories owned by this uid (the agent's user when it is neither root nor you; repeatable)", uidList)
    .addOption(new Option("--output <format>", "output format").choices(["json", "text"]).default("text"));
}

function address(io: CliIO, opts: ApiOptions): string {
  const chosen = opts.socketPath ?? io.env["SPIFFE_ENDPOINT_SOCKET"] ?? defaultWorkloadSocket(io.env);
  workloadApiTarget(chosen); // fails early with ERR_WORKLOAD_API_ENDPOINT
  return chosen;
}

function fail(io: CliIO, opts: ApiOptions, err: unknown): never {
  const e = SpindleError.from(err);
  if (opts.output === "json") io.stderr(JSON.stringify({ error: { code: e.code, message: e.message } }) + "\n");
  else io.stderr(errorLine(e));
  throw new CliExit(1);
}

async function withClient<T>(io: CliIO, opts: ApiOptions, fn: (client: WorkloadApiClient) => Promise<T>): Promise<T> {
  let client: WorkloadApiClient | undefined;
  try {
    client = createWorkloadApiClient({ address: address(io, opts), trustedSocketOwners: opts.socketOwner });
    return await fn(client);
  } catch (err) {
    return fail(io, opts, err);
  } finally {
    client?.close();
  }
}

const json = (io: CliIO, value: unknown) => io.stdout(JSON.stringify(value, null, 2) + "\n");

export function registerApiCommands(group: Command, io: CliIO): void {
  const fetch = group.command("fetch").description("fetch SVIDs or bundles once");

  addApiOptions(fetch.command("x509").description("fetch the caller's X.509-SVIDs (the first is the default identity)"))
    .option("--write <dir>", "write svid.N.pem, svid.N.key (0600), bundle.N.pem and federated_bundle.N.M.pem into this directory, as SPIRE does")
    .action(async (opts: ApiOptions & { write?: string }) => {
      const ctx = await withClient(io, opts, (c) => c.fetchX509Context());
      let written: string[] = [];
      if (opts.write !== undefined) {
        try {
          written = await writeX509Files(opts.write, ctx);
        } catch (err) {
          fail(io, opts, err);
        }
      }
      if (opts.output === "json") json(io, { ...(x509ContextJson(ctx) as object), written });
      else io.stdout(x509ContextText(ctx) + written.map((p) => `Wrote ${p}\n`).join(""));
    });

  addApiOptions(fetch.command("jwt").description("fetch JWT-SVIDs for an audience"))
    .requiredOption("--audience <aud>", "audience (repeatable)", collect)
    .option("--spiffe-id <id>", "only this identity (the caller must be entitled to it)")
    .action(async (opts: ApiOptions & { audience: string[]; spiffeId?: string }) => {
      const svids = await withClient(io, opts, (c) => c.fetchJwtSvids(opts.audience, opts.spiffeId));
      if (opts.output === "json") json(io, { svids: svids.map((s) => ({ spiffe_id: s.spiffeId, hint: s.hint, svid: s.svid })) });
      else io.stdout(svids.map((s) => `SPIFFE ID: ${s.spiffeId}${s.hint === "" ? "" : `\nHint:      ${s.hint}`}\nToken:     ${s.svid}\n`).join("\n"));
    });

  addApiOptions(fetch.command("bundles").description("fetch the X.509 and JWT bundles the caller may see"))
    .action(async (opts: ApiOptions) => {
      const [x509, jwt] = await withClient(io, opts, (c) => Promise.all([c.fetchX509Bundles(), c.fetchJwtBundles()]));
      if (opts.output === "json") {
        json(io, {
          x509_bundles: Object.fromEntries([...x509].map(([td, ders]) => [td, ders.map((d) => d.toString("base64"))])),
          jwt_bundles: Object.fromEntries([...jwt].map(([td, jwks]) => [td, JSON.parse(jwks) as unknown])),
        });
      } else io.stdout(bundlesText(x509, jwt));
    });

  const validate = group.command("validate").description("validate documents through the Workload API");
  addApiOptions(validate.command("jwt").description("validate a JWT-SVID for an audience (own and federated trust domains)"))
    .requiredOption("--audience <aud>", "the audience the token must carry")
    .requiredOption("--svid <token>", "the JWT-SVID (compact JWS)")
    .action(async (opts: ApiOptions & { audience: string; svid: string }) => {
      // The agent checks everything; a token whose header or claims name a member twice is
      // refused here too, so no agent that keeps the last duplicate is asked at all.
      const res = await withClient(io, opts, (c) => {
        decodeJwtSvidParts(opts.svid);
        return c.validateJwtSvid(opts.audience, opts.svid);
      });
      if (opts.output === "json") json(io, { spiffe_id: res.spiffeId, claims: res.claims ?? {} });
      else io.stdout(`SVID is valid.\nSPIFFE ID: ${res.spiffeId}\nClaims:    ${JSON.stringify(res.claims ?? {})}\n`);
    });

  addApiOptions(group.command("watch").description("stream X.509-SVID updates, printing each one, until interrupted (Ctrl-C)"))
    .option("--count <n>", "stop after this many updates", (v) => Number.parseInt(v, 10))
    .action(async (opts: ApiOptions & { count?: number }) => {
      let client: WorkloadApiClient;
      try {
        client = createWorkloadApiClient({ address: address(io, opts), trustedSocketOwners: opts.socketOwner });
      } catch (err) {
        fail(io, opts, err);
      }
      const stop = interrupted();
      try {
        const outcome = await watchUpdates(io, opts, client, stop.signalled);
        if (outcome !== undefined) fail(io, opts, outcome);
      } finally {
        stop.dispose();
        client.close();
      }
    });
}

/**
 * Prints every update until `stopped`, `--count` updates, or a final error (returned). The stream
 * is reopened with backoff while the agent answers Unavailable (restarting, or not synced yet).
 */
function watchUpdates(io: CliIO, opts: ApiOptions & { count?: number }, client: WorkloadApiClient, stopped: Promise<void>): Promise<SpindleError | undefined> {
  const backoff = createBackoff({ initialMs: 1000 });
  let seen = 0;
  return new Promise((resolve) => {
    let watch: { cancel(): void } | undefined;
    let retry: NodeJS.Timeout | undefined;
    const finish = (err?: SpindleError) => {
      clearTimeout(retry);
      watch?.cancel();
      resolve(err);
    };
    const open = () => {
      watch = client.watchX509Context(
        (ctx) => {
          backoff.reset();
          seen++;
          if (opts.output === "json") io.stdout(JSON.stringify({ update: seen, at: new Date().toISOString(), ...(x509ContextJson(ctx) as object) }) + "\n");
          else io.stdout(`--- update ${seen} at ${new Date().toISOString()}\n${x509ContextText(ctx)}`);
          if (opts.count !== undefined && seen >= opts.count) finish();
        },
        (err) => {
          if (err.details["grpcCode"] !== grpcStatus.UNAVAILABLE) return finish(err);
          const delay = backoff.next();
          io.stderr(`watch: ${err.message}; retrying in ${(delay / 1000).toFixed(1)} s\n`);
          retry = setTimeout(open, delay);
        },
      );
    };
    void stopped.then(() => finish());
    open();
  });
}

/** `signalled` resolves on the first SIGINT or SIGTERM: `watch` then ends normally (exit 0). */
function interrupted(): { signalled: Promise<void>; dispose(): void } {
  let done = (): void => {};
  const signalled = new Promise<void>((resolve) => {
    done = () => {
      dispose();
      resolve();
    };
  });
  const dispose = (): void => {
    process.off("SIGINT", done);
    process.off("SIGTERM", done);
  };
  process.once("SIGINT", done);
  process.once("SIGTERM", done);
  return { signalled, dispose };
}
