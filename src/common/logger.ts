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

/** The app's own name: every log line's `app` field, alert queries match on it. */
export const APP_NAME = "apim-remediator";

/** An error's message as one log field: its first line, at most `max` characters. */
export function errorLine(e: unknown, max = 200): string {
  return String((e as Error | undefined)?.message ?? e).split("\n")[0]?.slice(0, max) ?? "";
}

/**
 * The scrubbing rule. Scrubbing replaces a value wherever it occurs in the finished text, so a value that is
 * short, repetitive or a word the output itself is made of (`true`, `null`, `1`, `info`, `apim-remediator`, a
 * field name) would cut into keywords, numbers, field names and values every line carries: lines would stop
 * being JSON and alert queries would stop matching. A value is scrubbed only when it has
 *   - at least MIN_SCRUB_LENGTH (8) characters,
 *   - at least MIN_SCRUB_DISTINCT (5) different characters ("aaaaaaaa", "12121212" are not),
 *   - two character classes of lower case, upper case, digits and others, or MIN_SCRUB_PASSPHRASE (16)
 *     characters ("password", "12345678" are not; a long passphrase of words is),
 *   - and is neither a JSON number or keyword nor, in any case, one of OUTPUT_WORDS.
 * Any other value is still registered (`has()`), and still kept out of logs by the redaction paths above, which
 * remove the fields secret values travel in (`value`, `properties.value`, `secretValue`, tokens, keys); it is
 * only not searched for in free text.
 */
export const MIN_SCRUB_LENGTH = 8;
export const MIN_SCRUB_DISTINCT = 5;
export const MIN_SCRUB_PASSPHRASE = 16;

/**
 * Words every log line or audit record is made of, and the values alert queries match on (infra/workbook.json:
 * `app`, the audit outcomes, the poison alert, "evaluation failed"): never scrubbed, whatever a secret's value.
 */
const OUTPUT_WORDS = new Set(
  [APP_NAME, CENSOR, "true", "false", "null", "fatal", "error", "warn", "info", "debug", "trace", "silent", "level", "time", "msg", "pid", "hostname", "app", "err", "invocationId", "functionName", "correlationId", "resourceId", "targetId", "ruleId", "outcome", "reason", "message", "stack", "audit", "alert"]
    .concat(["applied", "rolled-back", "failed", "not-remediable", "in-progress", "skipped", "planned", "started", `${APP_NAME}-poison`, "evaluation failed"])
    .concat(REDACT_PATHS.filter((p) => /^\w+$/.test(p)))
    .map((w) => w.toLowerCase()),
);

/** True when `value` is safe to scrub from whole output text (see the rule above). */
export function isScrubbable(value: string): boolean {
  if (value.length < MIN_SCRUB_LENGTH) return false;
  if (new Set(value).size < MIN_SCRUB_DISTINCT) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((c) => c.test(value)).length;
  if (classes < 2 && value.length < MIN_SCRUB_PASSPHRASE) return false;
  if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value)) return false;
  return !OUTPUT_WORDS.has(value.toLowerCase());
}

/** Values that must never appear in output, registered as soon as the process sees them. */
export class SecretRegistry {
  /** The values scrubbed from output text. */
  private readonly values = new Set<string>();
  /** Registered values too short or too plain to scrub (kept out by redaction paths only). */
  private readonly unscrubbed = new Set<string>();

  /** Registers a secret; it is scrubbed from output only when `isScrubbable` (the rest rely on the redaction paths). */
  add(value: string | undefined | null): void {
    if (typeof value !== "string" || value.length === 0) return;
    if (isScrubbable(value)) this.values.add(value);
    else this.unscrubbed.add(value);
  }

  has(value: string): boolean {
    return this.values.has(value) || this.unscrubbed.has(value);
  }

  /** Replaces every scrubbable registered value (also as it appears JSON-escaped) in text. */
  scrub(text: string): string {
    if (this.values.size === 0) return text;
    let out = text;
    for (const v of this.values) {
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
      base: { app: APP_NAME, ...(options.base ?? {}) },
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
