// pino logger factory. Components get a child logger carrying {component, ...}; nothing secret is
// ever logged: the redact list below is a safety net, not a licence.
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from "pino";

export type { Logger } from "pino";

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where to write; defaults to stderr so stdout stays free for command output. */
  destination?: DestinationStream;
  /** Base fields added to every line. */
  base?: Record<string, unknown>;
}

const REDACT = [
  "*.privateKey",
  "*.private_key",
  "*.key",
  "*.token",
  "*.joinToken",
  "*.password",
  "*.x509SvidKey",
  "*.x509_svid_key",
];

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: options.base ?? {},
      redact: { paths: REDACT, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that discards everything (tests, library defaults). */
export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}

export function componentLogger(parent: Logger, component: string, fields: Record<string, unknown> = {}): Logger {
  return parent.child({ component, ...fields });
}
