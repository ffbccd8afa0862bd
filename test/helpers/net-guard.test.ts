/**
 * The network guard (test/helpers/net-guard.cjs): tests never leave the
 * machine. Off-loopback DNS and connections are refused before any packet is
 * sent, in this worker and in the processes it spawns; loopback still works; a
 * refusal a library swallows still fails the test.
 */
import { spawnSync } from "node:child_process";
import dns from "node:dns";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSocket } from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkNoRefusals, GUARD_FILE, netGuard, readGuardLog } from "./net-guard.js";

const guard = netGuard();

/** Resolves with the error the callback API gets (or undefined). */
const viaCallback = (call: (cb: (err: NodeJS.ErrnoException | null) => void) => void) => new Promise<NodeJS.ErrnoException | null>((resolve) => call((err) => resolve(err)));

/** A socket's outcome: 'connect', or the error it was destroyed with, and whether it ever had an OS handle. */
function connectOutcome(socket: net.Socket): Promise<{ connected: boolean; error?: NodeJS.ErrnoException; hadHandle: boolean }> {
  return new Promise((resolve) => {
    // no handle means no file descriptor, so not a single SYN was sent
    const handle = () => (socket as unknown as { _handle: unknown })._handle != null;
    let hadHandle = handle();
    socket.once("connect", () => {
      socket.destroy();
      resolve({ connected: true, hadHandle: true });
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve({ connected: false, error, hadHandle: (hadHandle ||= handle()) }));
  });
}

/** A DNS server on loopback that counts the queries it gets (a Resolver pointed at it must never ask it). */
async function countingDnsServer(): Promise<{ address: string; queries: () => number; close: () => void }> {
  const sock = createSocket("udp4");
  let n = 0;
  sock.on("message", () => n++);
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return { address: `127.0.0.1:${sock.address().port}`, queries: () => n, close: () => sock.close() };
}

describe("network guard", () => {
  it("is in NODE_OPTIONS, so every process the tests start loads it", () => {
    expect(process.env["NODE_OPTIONS"]).toContain(`--require ${JSON.stringify(GUARD_FILE)}`);
    expect(process.env["NET_GUARD_LOG"]).toBeTruthy();
  });

  it("refuses DNS lookups of names that are not loopback, naming the host and the call site", async () => {
    const { value, refusals } = await guard.expectRefusals(async () => ({
      invalid: await viaCallback((cb) => dns.lookup("example.invalid", cb)),
      arm: await viaCallback((cb) => dns.lookup("management.azure.com", { all: true }, cb)),
      promises: await dns.promises.lookup("login.microsoftonline.com").then(() => null, (e: NodeJS.ErrnoException) => e),
      ip: await viaCallback((cb) => dns.lookup("203.0.113.1", cb)),
      service: await viaCallback((cb) => dns.lookupService("203.0.113.1", 443, cb)),
    }));
    for (const [host, err] of [["example.invalid", value.invalid], ["management.azure.com", value.arm], ["login.microsoftonline.com", value.promises], ["203.0.113.1", value.ip], ["203.0.113.1", value.service]] as const) {
      expect(err?.code, host).toBe("ERR_NET_GUARD");
      expect(err?.message).toContain(`"${host}"`);
      // the call site: this file
      expect(err?.message).toContain("net-guard.test.ts");
    }
    expect(refusals.map((r) => r.host)).toEqual(["example.invalid", "management.azure.com", "login.microsoftonline.com", "203.0.113.1", "203.0.113.1"]);
  });

  it("refuses resolve*, reverse and both Resolver classes without sending a query", async () => {
    const server = await countingDnsServer();
    try {
      const resolver = new dns.Resolver();
      resolver.setServers([server.address]);
      const presolver = new dns.promises.Resolver();
      presolver.setServers([server.address]);
      const rejected = (p: Promise<unknown>) => p.then(() => null, (e: NodeJS.ErrnoException) => e);
      const { value } = await guard.expectRefusals(async () => [
        await viaCallback((cb) => dns.resolve4("kv-contoso-apim.vault.azure.net", cb)),
        await viaCallback((cb) => dns.resolve("management.azure.com", "TXT", cb)),
        await viaCallback((cb) => dns.reverse("203.0.113.1", cb)),
        await viaCallback((cb) => resolver.resolve4("management.azure.com", cb)),
        await viaCallback((cb) => resolver.resolveAny("example.invalid", cb)),
        await rejected(dns.promises.resolve6("management.azure.com")),
        await rejected(presolver.resolveSrv("_ldap._tcp.example.invalid")),
        await rejected(presolver.reverse("203.0.113.1")),
      ]);
      for (const err of value) expect(err?.code).toBe("ERR_NET_GUARD");
      expect(server.queries()).toBe(0);
      // loopback names are answered here (c-ares would ask the server even for localhost)
      expect(await dns.promises.resolve4("localhost")).toEqual(["127.0.0.1"]);
      expect(await presolver.resolve6("localhost")).toEqual(["::1"]);
      expect(server.queries()).toBe(0);
    } finally {
      server.close();
    }
  });

  it("refuses a TCP connection to 203.0.113.1 (TEST-NET-3) before a socket exists", async () => {
    const { value, refusals } = await guard.expectRefusals(() => connectOutcome(net.connect(443, "203.0.113.1")));
    expect(value.connected).toBe(false);
    expect(value.error?.code).toBe("ERR_NET_GUARD");
    expect(value.error?.message).toContain('net.connect of "203.0.113.1"');
    expect(value.hadHandle).toBe(false);
    expect(refusals).toHaveLength(1);
    // by name, with options, and as TLS
    const more = await guard.expectRefusals(async () => [await connectOutcome(net.connect({ host: "management.azure.com", port: 443 })), await connectOutcome(new net.Socket().connect(80, "198.51.100.7"))]);
    for (const o of more.value) {
      expect(o.error?.code).toBe("ERR_NET_GUARD");
      expect(o.hadHandle).toBe(false);
    }
  });

  it("refuses https and fetch to real Azure host names (undici goes through net/tls connect)", async () => {
    const { value, refusals } = await guard.expectRefusals(async () => ({
      fetch: await fetch("https://management.azure.com/").then(() => null, (e: Error & { cause?: NodeJS.ErrnoException }) => e),
      https: await new Promise<NodeJS.ErrnoException>((resolve) => https.get("https://kv-contoso-apim.vault.azure.net/secrets/x?api-version=7.4", () => resolve(new Error("answered"))).on("error", resolve)),
    }));
    expect(value.fetch?.cause?.code).toBe("ERR_NET_GUARD");
    expect(value.fetch?.cause?.message).toContain('"management.azure.com"');
    expect(value.https.code).toBe("ERR_NET_GUARD");
    expect(value.https.message).toContain('tls.connect of "kv-contoso-apim.vault.azure.net"');
    expect(refusals.map((r) => r.host)).toEqual(["management.azure.com", "kv-contoso-apim.vault.azure.net"]);
  });

  describe("loopback", () => {
    let server: ReturnType<typeof createHttpServer>;
    let port = 0;
    beforeAll(async () => {
      server = createHttpServer((_req, res) => res.end("ok"));
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      port = (server.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("still works: lookups, connections and fetch", async () => {
      const { value, refusals } = await guard.expectRefusals(async () => ({
        lookup: await dns.promises.lookup("localhost"),
        sub: await dns.promises.lookup("emulator.localhost", { family: 4 }),
        ip: await connectOutcome(net.connect(port, "127.0.0.1")),
        name: await connectOutcome(net.connect(port, "localhost")),
        fetch: await (await fetch(`http://127.0.0.1:${port}/`)).text(),
        byName: await (await fetch(`http://localhost:${port}/`)).text(),
      }));
      expect(refusals).toEqual([]);
      expect(guard.isLoopbackHost(value.lookup.address)).toBe(true);
      expect(value.sub.address).toBe("127.0.0.1");
      expect(value.ip.connected).toBe(true);
      expect(value.name.connected).toBe(true);
      expect(value.fetch).toBe("ok");
      expect(value.byName).toBe("ok");
      for (const h of ["localhost", "LOCALHOST.", "a.b.localhost", "127.0.0.1", "127.255.0.9", "::1", "[::1]", "::ffff:127.0.0.1"]) expect(guard.isLoopbackHost(h), h).toBe(true);
      for (const h of ["localhost.example.com", "mylocalhost", "10.0.0.1", "203.0.113.1", "::ffff:10.0.0.1", "fe80::1", "management.azure.com", ""]) expect(guard.isLoopbackHost(h), h).toBe(false);
    });
  });

  it("a refusal the code under test swallows still fails the test (the after-each check)", async () => {
    // recorded in a log of this test's own (the run's log would fail the whole run at teardown, as it should)
    const dir = mkdtempSync(join(tmpdir(), "net-guard-swallowed-"));
    const runLog = process.env["NET_GUARD_LOG"];
    try {
      const log = join(dir, "refusals.jsonl");
      process.env["NET_GUARD_LOG"] = log;
      // no expectRefusals: as a library that catches and ignores the error
      await viaCallback((cb) => dns.lookup("kv-contoso-apim.vault.azure.net", cb));
      await connectOutcome(net.connect(443, "203.0.113.1"));
      process.env["NET_GUARD_LOG"] = runLog;
      expect(() => checkNoRefusals(log)).toThrow(/2 connection\(s\) or DNS lookup\(s\) off the machine were refused[\s\S]*"kv-contoso-apim\.vault\.azure\.net"[\s\S]*net\.connect of "203\.0\.113\.1"/);
      // reported once: the check took them
      expect(() => checkNoRefusals(log)).not.toThrow();
      // and the log the global teardown reads has both
      expect(readGuardLog(log).refusals.map((r) => r.host)).toEqual(["kv-contoso-apim.vault.azure.net", "203.0.113.1"]);
    } finally {
      process.env["NET_GUARD_LOG"] = runLog;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("guards the processes the tests spawn, and records a refusal they swallow", () => {
    const dir = mkdtempSync(join(tmpdir(), "net-guard-child-"));
    try {
      const log = join(dir, "refusals.jsonl");
      const script = [
        "const https = require('node:https');",
        "require('node:dns').lookup('management.azure.com', () => {});",
        // swallowed, as a library might; the process exits 0
        "https.get('https://kv-contoso-apim.vault.azure.net/', () => {}).on('error', () => {});",
        "fetch('https://login.microsoftonline.com/common').catch(() => {});",
      ].join("\n");
      // the child inherits NODE_OPTIONS (the guard) from this worker; its own log, not the run's
      const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: { ...process.env, NET_GUARD_LOG: log, NET_GUARD_OWNER: "guard-test" } });
      expect(r.status).toBe(0);
      const { refusals } = readGuardLog(log);
      expect(refusals.map((x) => `${x.call} ${x.host}`).sort()).toEqual(["dns.lookup management.azure.com", "tls.connect kv-contoso-apim.vault.azure.net", "tls.connect login.microsoftonline.com"]);
      expect(refusals.every((x) => x.owner === "guard-test" && x.pid === r.pid)).toBe(true);
      expect(r.stderr).toContain('network guard: dns.lookup of "management.azure.com" refused');

      // a child of this worker (NET_GUARD_OWNER from the setup file) fails this worker's running test
      const own = join(dir, "own.jsonl");
      writeFileSync(own, "");
      const c = spawnSync(process.execPath, ["-e", "require('node:net').connect(443, '203.0.113.1').on('error', () => {})"], { encoding: "utf8", env: { ...process.env, NET_GUARD_LOG: own } });
      expect(c.status).toBe(0);
      expect(() => checkNoRefusals(own)).toThrow(new RegExp(`pid ${c.pid}: network guard: net\\.connect of "203\\.0\\.113\\.1" refused`));
      expect(() => checkNoRefusals(own)).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
