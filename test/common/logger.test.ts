import { Writable } from "node:stream";
import { InvocationContext } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { CENSOR, createLogger, loggerForInvocation, SecretRegistry } from "../../src/common/logger.js";

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
