/**
 * Every rule's page says how it compares with the peers (issue 17): a `## Compared with` table
 * (peer, its condition, our verdict, why) in which every peer check the rule's meta names appears —
 * the Azure Policy definition id, Defender for Cloud's recommendation name, the PSRule rule — and
 * the catalogs (docs/rules/README.md, README.md's rule table) list exactly the rules the code has.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RULES } from "../../src/remediations/index.js";

const read = (p: string) => readFileSync(join(process.cwd(), p), "utf8");
const section = (doc: string, heading: string) => doc.split(`\n## ${heading}\n`)[1]?.split("\n## ")[0];

/** The first Markdown table of a section: its header cells and its rows' cells. */
function firstTable(text: string): { header: string[]; rows: string[][] } {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("|"));
  const table = lines.slice(start, end === -1 ? undefined : end);
  const cells = (l: string) => l.split("|").slice(1, -1).map((c) => c.trim());
  return { header: cells(table[0] ?? ""), rows: table.slice(2).map(cells) };
}

describe("rule pages compare with the peers", () => {
  for (const rule of RULES) {
    const { id, references } = rule.meta;
    describe(id, () => {
      const file = `docs/rules/${id}.md`;
      it("has a page", () => expect(existsSync(join(process.cwd(), file))).toBe(true));
      const doc = existsSync(join(process.cwd(), file)) ? read(file) : "";

      it("has a 'Compared with' table before its references, with peer, condition, verdict and reason", () => {
        const compared = section(doc, "Compared with");
        expect(compared, `${file} has no '## Compared with' section`).toBeDefined();
        expect(doc.indexOf("\n## Compared with\n")).toBeLessThan(doc.indexOf("\n## References\n"));
        const table = firstTable(compared ?? "");
        expect(table.header).toEqual(["peer", "its condition", "our verdict", "why"]);
        expect(table.rows.length).toBeGreaterThan(0);
        for (const row of table.rows) {
          expect(row, `a row of ${file} has ${row.length} cells`).toHaveLength(4);
          expect(row.slice(0, 3).every((c) => c.length > 0), `a row of ${file} leaves peer, condition or verdict empty`).toBe(true);
        }
      });

      it("names in that table every peer check its meta references", () => {
        const peers = firstTable(section(doc, "Compared with") ?? "").rows.map((r) => r[0] ?? "").join("\n");
        if (references.azurePolicy) expect(peers, `${file}: Policy ${references.azurePolicy}`).toContain(references.azurePolicy);
        if (references.defender) expect(peers, `${file}: Defender '${references.defender}'`).toContain(references.defender);
        if (references.psrule) expect(peers, `${file}: PSRule ${references.psrule}`).toContain(references.psrule);
      });

      it("lists its references with the same ids", () => {
        const refs = section(doc, "References") ?? "";
        if (references.azurePolicy) expect(refs).toContain(references.azurePolicy);
        if (references.defender) expect(refs).toContain(references.defender);
        if (references.psrule) expect(refs).toContain(references.psrule);
      });
    });
  }
});

describe("the catalogs list exactly the rules the code has", () => {
  const ids = RULES.map((r) => r.meta.id);
  it("docs/rules/README.md's catalog table, in the code's order, with severity and default action", () => {
    const catalog = read("docs/rules/README.md");
    const table = firstTable(catalog.slice(catalog.indexOf("\n| id |") + 1));
    const rows = table.rows.map((r) => ({ id: (r[0] ?? "").replace(/^\[`([^`]+)`\].*$/, "$1"), severity: r[1], action: r[2], policy: r[4] ?? "", psrule: r[5] ?? "" }));
    expect(rows.map((r) => r.id)).toEqual(ids);
    for (const rule of RULES) {
      const row = rows.find((r) => r.id === rule.meta.id);
      expect(row?.severity, rule.meta.id).toBe(rule.meta.severity);
      expect(row?.action, rule.meta.id).toBe(rule.meta.defaultAction);
      // the Azure Policy and PSRule columns name what the meta references, or "—"
      const { azurePolicy, psrule } = rule.meta.references;
      expect(azurePolicy ? row?.policy.includes(azurePolicy) : row?.policy === "—", `${rule.meta.id}: Azure Policy column '${row?.policy}'`).toBe(true);
      expect(row?.psrule, `${rule.meta.id}: PSRule column`).toBe(psrule ? `\`${psrule}\`` : "—");
    }
  });
  it("README.md's rule table", () => {
    const table = firstTable(section(read("README.md"), "Rules") ?? "");
    expect(table.rows.map((r) => (r[0] ?? "").replace(/`/g, ""))).toEqual(ids);
  });
});
