/**
 * Structured JSON logging with pino. Two layers keep secrets out of logs:
 * redaction paths for every secret-bearing field, and a scrubber that removes
 * any secret value the process has handled from the final line, wherever it
 * appears (messages, error text, nested objects).
 */
import pino, { type DestinationStream, type Logger } from "pino";
import type { InvocationContext } from "@azure/functions";

export const REDACT_PATHS = [
  "value",
  "*.value",
  "*.*.value",
  "properties.value",
  "*.properties.value",
  "secretValue",
  "*.secretValue",
  "password",
  "*.password",
  "clientSecret",
  "*.clientSecret",
  "token",
  "*.token",
  "accessToken",
  "*.accessToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  'headers["ocp-apim-subscription-key"]',
  "connectionString",
  "*.connectionString",
  "primaryKey",
  "*.primaryKey",
  "secondaryKey",
  "*.secondaryKey",
  "pat",
  "*.pat",
];

export const CENSOR = "[REDACTED]";

/** Values that must never appear in output, registered as soon as the process sees them. */
export class SecretRegistry {
  private readonly values = new Set<string>();

  /** Registers a secret; very short values are still registered but match only as whole JSON strings. */
  add(value: string | undefined | null): void {
    if (typeof value === "string" && value.length > 0) this.values.add(value);
  }

  has(value: string): boolean {
    return this.values.has(value);
  }

  /** Replaces every registered value (also as it appears JSON-escaped) in text. */
  scrub(text: string): string {
    if (this.values.size === 0) return text;
    let out = text;
    for (const v of this.values) {
      if (v.length < 4) {
        out = out.split(JSON.stringify(v)).join(JSON.stringify(CENSOR));
        continue;
      }
      out = out.split(v).join(CENSOR);
      const escaped = JSON.stringify(v).slice(1, -1);
      if (escaped !== v) out = out.split(escaped).join(CENSOR);
    }
    return out;
  }
}

/** The process-wide registry used by the default loggers. */
export const secrets = new SecretRegistry();

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
  registry?: SecretRegistry;
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const registry = options.registry ?? secrets;
  return pino(
    {
      level: options.level ?? "info",
      base: { app: "apim-remediator", ...(options.base ?? {}) },
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: (s: string) => registry.scrub(s) },
    },
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}

/**
 * A logger for one Functions invocation: the same JSON lines, forwarded to
 * the InvocationContext so the host (and Application Insights) sees them with
 * the right severity and invocation id.
 */
export function loggerForInvocation(context: InvocationContext, options: Omit<LoggerOptions, "destination"> = {}): Logger {
  const destination: DestinationStream = {
    write(line: string) {
      let level = 30;
      try {
        const parsed = JSON.parse(line) as { level?: string | number };
        level = typeof parsed.level === "number" ? parsed.level : ({ trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as Record<string, number>)[String(parsed.level)] ?? 30;
      } catch {
        // keep info
      }
      const text = line.trimEnd();
      if (level >= 50) context.error(text);
      else if (level >= 40) context.warn(text);
      else if (level >= 30) context.info(text);
      else if (level >= 20) context.debug(text);
      else context.trace(text);
    },
  };
  return createLogger({ ...options, destination, base: { ...(options.base ?? {}), invocationId: context.invocationId, functionName: context.functionName } });
}
