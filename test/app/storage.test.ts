/**
 * The compliance table against Azurite: verdicts are written in entity group
 * transactions (at most 100 operations and a few MB each), and re-recording a
 * service replaces exactly the rules that were evaluated.
 */
import { randomBytes } from "node:crypto";
import { TableClient } from "@azure/data-tables";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { ComplianceStore } from "../../src/app/storage.js";
import type { Finding } from "../../src/remediations/index.js";

const SVC = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim-store";
const OTHER = `${SVC}-other`;

const finding = (ruleId: string, i: number, status: Finding["status"] = "fail", message = `item ${i}`): Finding => ({
  ruleId,
  resourceId: `${SVC}/apis/api-${i}`,
  status,
  severity: "high",
  action: "auto",
  message,
});

describe("ComplianceStore", () => {
  const conn = inject("azuriteConnectionString");
  const table = TableClient.fromConnectionString(conn, `compliance${randomBytes(5).toString("hex")}`, { allowInsecureConnection: true });
  const store = new ComplianceStore(table);
  beforeAll(async () => {
    await table.createTable();
  });
  afterAll(async () => {
    await table.deleteTable().catch(() => undefined);
  });

  const rowsOf = async (serviceId: string) => (await store.list()).filter((r) => r.serviceId === serviceId);

  it("records more verdicts than one transaction holds, and replaces only the evaluated rules", async () => {
    const a = Array.from({ length: 230 }, (_, i) => finding("rule-a", i));
    const b = Array.from({ length: 40 }, (_, i) => finding("rule-b", i, "pass"));
    await store.record(SVC, ["rule-a", "rule-b"], [...a, ...b], "c1");
    await store.record(OTHER, ["rule-a"], [finding("rule-a", 1)], "c1");
    expect((await rowsOf(SVC)).length).toBe(270);

    // rule-a evaluated again: 120 items left, one of them now passing; rule-b not evaluated this time
    const again = Array.from({ length: 120 }, (_, i) => finding("rule-a", i, i === 7 ? "pass" : "fail"));
    await store.record(SVC, ["rule-a"], again, "c2");
    const rows = await rowsOf(SVC);
    expect(rows.filter((r) => r.ruleId === "rule-a")).toHaveLength(120);
    expect(rows.filter((r) => r.ruleId === "rule-b")).toHaveLength(40);
    expect(rows.filter((r) => r.ruleId === "rule-b").every((r) => r.correlationId === "c1")).toBe(true);
    expect(rows.find((r) => r.ruleId === "rule-a" && r.resourceId.endsWith("/api-7"))?.status).toBe("pass");
    expect(rows.filter((r) => r.ruleId === "rule-a").every((r) => r.correlationId === "c2")).toBe(true);
    // another service's partition is untouched
    expect(await rowsOf(OTHER)).toHaveLength(1);
  });

  it("splits transactions by size: 100 verdicts with 30,000-character messages", async () => {
    const big = Array.from({ length: 100 }, (_, i) => finding("rule-big", i, "fail", `${i} `.padEnd(40_000, "x")));
    await store.record(SVC, ["rule-big"], big, "c3");
    const rows = (await rowsOf(SVC)).filter((r) => r.ruleId === "rule-big");
    expect(rows).toHaveLength(100);
    expect(rows.every((r) => r.message.length === 30_000)).toBe(true);
  });

  it("keeps one row when a rule reports the same resource twice (the later finding wins)", async () => {
    await store.record(SVC, ["rule-dup"], [finding("rule-dup", 1, "fail"), finding("rule-dup", 1, "pass")], "c4");
    const rows = (await rowsOf(SVC)).filter((r) => r.ruleId === "rule-dup");
    expect(rows.map((r) => r.status)).toEqual(["pass"]);
  });

  it("an evaluation without findings removes the rules' rows (a deleted service)", async () => {
    await store.record(SVC, ["rule-a", "rule-b", "rule-big", "rule-dup"], [], "c5");
    expect(await rowsOf(SVC)).toHaveLength(0);
    expect(await rowsOf(OTHER)).toHaveLength(1);
  });
});
