import { Writable } from "node:stream";
import { InvocationContext } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { CENSOR, createLogger, isScrubbable, loggerForInvocation, MIN_SCRUB_LENGTH, SecretRegistry } from "../../src/common/logger.js";
import { MemoryAudit } from "../../src/engine/audit.js";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter((l) => l.length > 0));
      cb();
    },
  });
  return { lines, stream };
}

describe("logger secret hygiene", () => {
  const SECRET = "s3cr3t-V4lue-Zx9";

  it("redacts secret-bearing fields by path", () => {
    const { lines, stream } = capture();
    const log = createLogger({ destination: stream, registry: new SecretRegistry() });
    log.info({ value: SECRET, namedValue: { value: SECRET, secret: true }, headers: { authorization: `Bearer ${SECRET}` }, body: { properties: { value: SECRET } } }, "read named value");
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(SECRET);
    const parsed = JSON.parse(lines[0] as string) as Record<string, any>;
    expect(parsed["value"]).toBe(CENSOR);
    expect(parsed["namedValue"].value).toBe(CENSOR);
    expect(parsed["namedValue"].secret).toBe(true);
    expect(parsed["headers"].authorization).toBe(CENSOR);
    expect(parsed["body"].properties.value).toBe(CENSOR);
  });

  it("scrubs a registered secret wherever it appears: messages, errors, deep objects", () => {
    const { lines, stream } = capture();
    const registry = new SecretRegistry();
    registry.add(SECRET);
    registry.add('quote"and\\slash');
    const log = createLogger({ destination: stream, registry });
    log.error({ err: new Error(`failed to migrate ${SECRET}`), deep: { a: { b: { c: { d: SECRET } } } } }, `value was ${SECRET}`);
    log.warn({ odd: 'quote"and\\slash' }, "escaped");
    expect(lines.join("\n")).not.toContain(SECRET);
    expect(lines.join("\n")).not.toContain('quote\\"and\\\\slash');
    expect(lines[0]).toContain(CENSOR);
    expect(() => lines.map((l) => JSON.parse(l))).not.toThrow();
  });

  it("forwards to the Functions InvocationContext with severity, still redacted", () => {
    const seen: Array<[string, string]> = [];
    const context = new InvocationContext({
      invocationId: "inv-1",
      functionName: "evaluate",
      logHandler: (level, ...args) => seen.push([level, args.map(String).join(" ")]),
    });
    const registry = new SecretRegistry();
    registry.add(SECRET);
    const log = loggerForInvocation(context, { registry });
    log.info("hello");
    log.warn({ value: SECRET }, "careful");
    log.error(`boom ${SECRET}`);
    expect(seen.map(([l]) => l)).toEqual(["information", "warning", "error"]);
    expect(seen.map(([, m]) => m).join("\n")).not.toContain(SECRET);
    expect(JSON.parse(seen[0]![1]).invocationId).toBe("inv-1");
  });
});

describe("log scrubbing cannot blind the logs", () => {
  /** Values a named value or token may hold that are also the vocabulary of every log line. */
  const PLAIN = ["true", "false", "null", "1", "0", "apim-remediator", "info", "level", "value", "msg", "password", "12345678", "aaaaaaaaaaaa", "[REDACTED]", "rolled-back", "apim-remediator-poison", "evaluation failed"];
  const REAL = "Zk41-demo-partner-key-Q8w3";

  function logWith(registered: string[]) {
    const { lines, stream } = capture();
    const registry = new SecretRegistry();
    for (const v of registered) registry.add(v);
    const log = createLogger({ destination: stream, registry, base: { service: "apim-contoso-prod" } });
    return { lines, registry, log };
  }

  it("registering true, null, 1, the app's name, a level or field name leaves every line valid JSON with its fields intact", () => {
    const { lines, registry, log } = logWith(PLAIN);
    log.info({ enabled: true, disabled: false, missing: null, writes: 1, retries: 0, ruleId: "api-https-only", outcome: "applied" }, "fixed 1 drift");
    log.warn({ err: new Error("ARM said 429") }, "retrying");
    log.error({ alert: "apim-remediator-poison", audit: { outcome: "rolled-back" } }, "evaluation failed");
    expect(lines).toHaveLength(3);
    const [first, second, third] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // the workbook's query (infra/workbook.json) still finds the poison alert and the rolled-back record
    expect(third).toMatchObject({ app: "apim-remediator", alert: "apim-remediator-poison", audit: { outcome: "rolled-back" }, msg: "evaluation failed" });
    expect(first).toMatchObject({ level: "info", app: "apim-remediator", service: "apim-contoso-prod", enabled: true, disabled: false, missing: null, writes: 1, retries: 0, ruleId: "api-https-only", outcome: "applied", msg: "fixed 1 drift" });
    expect(second).toMatchObject({ level: "warn", app: "apim-remediator", msg: "retrying" });
    expect(lines.join("\n")).not.toContain(CENSOR);
    // an alert query on the app name and the level still matches
    expect(lines.filter((l) => l.includes('"app":"apim-remediator"') && l.includes('"level":"warn"'))).toHaveLength(1);
    // they are registered all the same
    for (const v of PLAIN) expect(registry.has(v)).toBe(true);
  });

  it("the same registry still scrubs a real-looking secret everywhere, next to the plain values", () => {
    const { lines, log } = logWith([...PLAIN, REAL, "s3cr3t"]);
    log.error({ err: new Error(`failed with ${REAL}`), deep: { a: { b: { c: { d: REAL } } } }, ok: true }, `value was ${REAL}`);
    const text = lines.join("\n");
    expect(text).not.toContain(REAL);
    const parsed = JSON.parse(lines[0] as string) as Record<string, any>;
    expect(parsed["msg"]).toBe(`value was ${CENSOR}`);
    expect(parsed["deep"].a.b.c.d).toBe(CENSOR);
    expect(parsed["ok"]).toBe(true);
    expect(parsed["app"]).toBe("apim-remediator");
  });

  it("the redaction paths still hide a short or plain secret in the fields they cover", () => {
    const short = ["abc", "true", "apim-remediator", "hunter2"];
    const { lines, log } = logWith(short);
    for (const v of short) {
      log.info({ value: v, namedValue: { value: v, secret: true }, body: { properties: { value: v } }, clientSecret: v, headers: { authorization: v }, connectionString: v, primaryKey: v, token: v, pat: v }, "read");
    }
    expect(lines).toHaveLength(short.length);
    for (const line of lines) {
      const p = JSON.parse(line) as Record<string, any>;
      for (const f of [p["value"], p["namedValue"].value, p["body"].properties.value, p["clientSecret"], p["headers"].authorization, p["connectionString"], p["primaryKey"], p["token"], p["pat"]]) expect(f).toBe(CENSOR);
      expect(p["namedValue"].secret).toBe(true);
      expect(p["app"]).toBe("apim-remediator");
    }
  });

  it("audit records stay whole (and parse) when plain values are registered", () => {
    const registry = new SecretRegistry();
    for (const v of PLAIN) registry.add(v);
    registry.add(REAL);
    const audit = new MemoryAudit(registry);
    audit.write({ time: "2025-01-01T00:00:00.000Z", correlationId: "c-1", actor: "apim-remediator", mode: "enforce", ruleId: "api-https-only", resourceId: "/x", changes: [{ path: "properties.protocols", before: ["http", "https"], after: ["https"] }, { path: "properties.enabled", before: null, after: true }], outcome: "applied", reason: `was ${REAL}`, writes: 1 });
    expect(audit.records[0]).toMatchObject({ actor: "apim-remediator", changes: [{ before: ["http", "https"], after: ["https"] }, { before: null, after: true }], writes: 1, reason: `was ${CENSOR}` });
  });

  it("documents its rule: length, variety, classes, and the output's own words", () => {
    expect(isScrubbable(REAL)).toBe(true);
    expect(isScrubbable("kvmig-1-0f8c7a2e")).toBe(true);
    expect(isScrubbable("correct horse battery staple")).toBe(true);
    expect(isScrubbable("correcthorsebatterystaple")).toBe(true);
    for (const v of [...PLAIN, "s3cr3t", "abababababab", "1234567890123456789", "-12345.678", "Apim-Remediator"]) expect(isScrubbable(v), v).toBe(false);
    expect(MIN_SCRUB_LENGTH).toBe(8);
  });
});
