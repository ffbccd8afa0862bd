/**
 * `tsx bench/azurite-tables.ts [--sizes 1000,10000,100000]`: what one partition query and one point read cost
 * Azurite as its table grows. The estate bench's sweeps slowed as the estate grew while their ARM work did not
 * (bench/RESULTS.md, "Estate scale"): every message of the app reads its service's partitions (compliance rows,
 * pending operations, lock inventory, chunk plans, tickets; src/app/storage.ts, chunks.ts, ticket-store.ts).
 * Azurite 3.35 answers a query by filtering the table's whole collection (LokiTableMetadataStore
 * `queryTableEntities`: `collection.chain().where(filter)`), where Azure Table Storage serves a partition query from
 * its partition ("Design for querying", Learn: a partition query names one partition). This measures that cost
 * alone, with the Table SDK the app uses: rows of ~400 bytes, 20 per partition (a service's compliance rows).
 */
import { TableClient, type TransactionAction } from "@azure/data-tables";
import { startAzurite } from "./run.js";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
};
const sizes = arg("sizes", "1000,10000,100000").split(",").map(Number);
if (sizes.some((n) => !Number.isInteger(n) || n < 20)) throw new Error("--sizes takes whole numbers of rows, each at least 20");
const PER_PARTITION = 20;
const SAMPLES = 50;

async function main(): Promise<void> {
  const azurite = await startAzurite();
  try {
    const table = TableClient.fromConnectionString(azurite.connectionString, "scan", { allowInsecureConnection: true });
    await table.createTable();
    let rows = 0;
    const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)] as number;
    process.stdout.write("| rows in the table | partition query (20 rows) p50 / p95 | point read p50 / p95 |" + "\n");
    process.stdout.write("| --- | --- | --- |" + "\n");
    for (const size of sizes) {
      while (rows < size) {
        const pk = `p${String(Math.floor(rows / PER_PARTITION)).padStart(7, "0")}`;
        const batch: TransactionAction[] = [];
        for (let k = 0; k < PER_PARTITION && rows < size; k++, rows++) batch.push(["upsert", { partitionKey: pk, rowKey: `r${k}`, ruleId: "api-https-only", resourceId: `/subscriptions/x/apis/${rows}`, status: "pass", message: "x".repeat(300) }]);
        await table.submitTransaction(batch);
      }
      const parts = Math.floor(rows / PER_PARTITION);
      const query: number[] = [];
      const point: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const pk = `p${String(Math.floor((i * 7919) % parts)).padStart(7, "0")}`;
        let t = performance.now();
        let n = 0;
        for await (const _ of table.listEntities({ queryOptions: { filter: `PartitionKey eq '${pk}'` } })) n++;
        query.push(performance.now() - t);
        if (n !== PER_PARTITION) throw new Error(`partition ${pk}: ${n} rows, expected ${PER_PARTITION}`);
        t = performance.now();
        await table.getEntity(pk, "r0");
        point.push(performance.now() - t);
      }
      process.stdout.write(`| ${rows.toLocaleString("en-US")} | ${pct(query, 50).toFixed(1)} / ${pct(query, 95).toFixed(1)} ms | ${pct(point, 50).toFixed(1)} / ${pct(point, 95).toFixed(1)} ms |` + "\n");
    }
  } finally {
    azurite.proc.kill("SIGTERM");
}
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
