/**
 * Starts Azurite (from node_modules, in memory, on free ports) once for the
 * whole run and hands its connection string to the tests; stops it after.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    azuriteConnectionString: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = connect(port, "127.0.0.1");
      sock.once("connect", () => {
        sock.destroy();
        resolve();
      });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`Azurite did not open port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

let azurite: ChildProcess | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
  const req = createRequire(join(process.cwd(), "package.json"));
  const bin = join(dirname(req.resolve("azurite/package.json")), "dist/src/azurite.js");
  azurite = spawn(
    process.execPath,
    [bin, "--silent", "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--loose", "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1", "--blobPort", String(blob), "--queuePort", String(queue), "--tablePort", String(table)],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  azurite.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    await Promise.all([waitForPort(blob, 30_000), waitForPort(queue, 30_000), waitForPort(table, 30_000)]);
  } catch (e) {
    azurite.kill("SIGKILL");
    throw new Error(`${(e as Error).message}: ${stderr.slice(0, 500)}`);
  }
  const account = "devstoreaccount1";
  // Azurite's documented, public development account key.
  const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
  project.provide(
    "azuriteConnectionString",
    `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};BlobEndpoint=http://127.0.0.1:${blob}/${account};QueueEndpoint=http://127.0.0.1:${queue}/${account};TableEndpoint=http://127.0.0.1:${table}/${account};`,
  );
  return async () => {
    const proc = azurite;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill("SIGTERM");
      setTimeout(() => proc.kill("SIGKILL"), 5000).unref();
    });
  };
}
