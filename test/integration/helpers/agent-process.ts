// Runs `spindle agent run ...args` as a real process and resolves once it has attested.
import { spawn, type ChildProcess } from "node:child_process";
import { BIN } from "./cli-process.js";

export interface AgentProcess {
  child: ChildProcess;
  output(): string;
  /** The health port the agent reported (127.0.0.1). */
  healthPort: number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startAgentProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<AgentProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "agent", "run", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`agent did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /spindle agent: attested as .*health http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, output: () => out, healthPort: Number(m[1]), stop: async (signal = "SIGTERM") => (child.exitCode === null && child.kill(signal), exited) });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before it started:\n${out}`));
    });
  });
}
