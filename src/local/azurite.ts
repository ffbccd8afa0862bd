/**
 * Starts Azurite from node_modules (in memory, on free loopback ports) for the
 * demo and the tests: `--silent --inMemoryPersistence --skipApiVersionCheck
 * --disableTelemetry`, as DESIGN.md notes (without --disableTelemetry it tries
 * to send telemetry).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { connect, createServer } from "node:net";
import { dirname, join } from "node:path";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

export function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const c = connect(port, "127.0.0.1");
      c.once("connect", () => {
        c.destroy();
        resolve();
      });
      c.once("error", () => {
        c.destroy();
        if (Date.now() > until) reject(new Error(`Azurite did not open port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export interface AzuriteHandle {
  proc: ChildProcess;
  connectionString: string;
  stop(): Promise<void>;
}

export async function startAzurite(): Promise<AzuriteHandle> {
  let bin: string;
  try {
    bin = join(dirname(createRequire(join(process.cwd(), "package.json")).resolve("azurite/package.json")), "dist/src/azurite.js");
  } catch {
    throw new Error("Azurite is not installed: run `npm install` (it is a development dependency)");
  }
  const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
  const args = [bin, "--silent", "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--loose", "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"];
  const proc = spawn(process.execPath, [...args, "--blobPort", String(blob), "--queuePort", String(queue), "--tablePort", String(table)], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    await Promise.all([waitForPort(blob, 30_000), waitForPort(queue, 30_000), waitForPort(table, 30_000)]);
  } catch (e) {
    proc.kill("SIGKILL");
    throw new Error(`${(e as Error).message}: ${stderr.slice(0, 500)}`);
  }
  const a = "devstoreaccount1";
  // Azurite's documented, public development account key
  const k = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
  return {
    proc,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${a};AccountKey=${k};BlobEndpoint=http://127.0.0.1:${blob}/${a};QueueEndpoint=http://127.0.0.1:${queue}/${a};TableEndpoint=http://127.0.0.1:${table}/${a};`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGTERM");
        setTimeout(() => proc.kill("SIGKILL"), 5000).unref();
      }),
  };
}
