/**
 * Tests never leave the machine. Loaded into every vitest worker (setupFiles,
 * test/helpers/net-guard-setup.ts) and, through NODE_OPTIONS="--require <this>"
 * set in test/helpers/global-setup.ts, into every Node process the tests spawn
 * (the CLI, the demo, the bench workers, Azurite).
 *
 * It refuses, before any packet is sent:
 *  - a DNS lookup of anything but a loopback name or address (node:dns lookup,
 *    lookupService, resolve*, reverse, both Resolver classes, and the promise
 *    forms of each): `localhost`, `*.localhost` (RFC 6761 §6.3), 127.0.0.0/8,
 *    ::1 (and ::ffff:127.x); `0.0.0.0` / `::` pass a lookup only (a server
 *    listening on every interface), never a connect;
 *  - a TCP connection (net.Socket.prototype.connect, which net.connect,
 *    tls.connect, http, https, http2 and Node's global fetch (undici's connector
 *    calls net.connect / tls.connect) all go through) to anything but such a
 *    host. Unix sockets and named pipes pass.
 *
 * A refused call fails as the network would (the callback or promise gets an
 * error, a socket emits 'error'), with a message naming the host and the call
 * site. Because a library may swallow that error, every refusal is also
 * recorded: in this process (`violations`, checked after each test by the
 * setup file) and as one JSON line appended to NET_GUARD_LOG (checked by the
 * setup file for the worker's own children and by the global teardown for
 * everything), so a swallowed refusal still fails the run.
 */
"use strict";

const dns = require("node:dns");
const net = require("node:net");
const fs = require("node:fs");

const KEY = Symbol.for("apim-remediator.net-guard");

if (!globalThis[KEY]) {
  const state = {
    /** Refusals in this process not yet reported. */
    violations: [],
    /** While > 0 (the guard's own test), refusals are expected: kept in `expected`, not reported. */
    expecting: 0,
    expected: [],
    isLoopbackHost,
    /** Runs `fn` with refusals expected; returns what it resolved to and the refusals it caused. */
    async expectRefusals(fn) {
      state.expecting++;
      const start = state.expected.length;
      try {
        const value = await fn();
        return { value, refusals: state.expected.slice(start) };
      } finally {
        state.expecting--;
        if (state.expecting === 0) state.expected.length = 0;
      }
    },
    /** Takes (and clears) this process's unreported refusals. */
    take() {
      return state.violations.splice(0);
    },
  };
  globalThis[KEY] = state;

  /** A host the machine answers itself: a loopback address or a name that can only mean one. */
  function isLoopbackHost(host) {
    if (typeof host !== "string") return false;
    let h = host.trim().toLowerCase();
    if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
    if (h.endsWith(".")) h = h.slice(0, -1);
    if (h === "localhost" || h.endsWith(".localhost")) return true;
    if (net.isIPv4(h)) return h.split(".")[0] === "127";
    if (net.isIPv6(h)) {
      if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
      const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
      return !!mapped && isLoopbackHost(mapped[1]);
    }
    return false;
  }
  const isUnspecified = (host) => host === "0.0.0.0" || host === "::" || host === "[::]";

  const here = __filename;
  /** The first frames outside this file and Node's internals: where the call came from. */
  function callSite() {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 40;
    const stack = new Error().stack || "";
    Error.stackTraceLimit = limit;
    const frames = stack.split("\n").slice(1).map((l) => l.trim().replace(/^at /, ""));
    const outside = frames.filter((f) => !f.includes(here) && !/^node:|\(node:/.test(f));
    const own = outside.find((f) => !f.includes("node_modules"));
    const first = outside.slice(0, 3);
    if (own && !first.includes(own)) first.push(own);
    return first.join(" <- ") || "(unknown call site)";
  }

  function refuse(call, host) {
    const site = callSite();
    const message = `network guard: ${call} of ${JSON.stringify(String(host))} refused (tests never leave the machine; only loopback is allowed) at ${site}`;
    const v = { pid: process.pid, owner: process.env["NET_GUARD_OWNER"] || "", call, host: String(host), site, message };
    if (state.expecting > 0) {
      state.expected.push(v);
    } else {
      state.violations.push(v);
      const log = process.env["NET_GUARD_LOG"];
      if (log) {
        try {
          fs.appendFileSync(log, `${JSON.stringify(v)}\n`);
        } catch {
          // the in-process record and stderr still report it
        }
      }
      try {
        process.stderr.write(`${message}\n`);
      } catch {
        // no stderr: the records above still report it
      }
    }
    const err = new Error(message);
    err.code = "ERR_NET_GUARD";
    err.hostname = String(host);
    return err;
  }

  // ---- node:dns ----------------------------------------------------------------

  const lastCallback = (args) => (typeof args[args.length - 1] === "function" ? args[args.length - 1] : undefined);

  const origLookup = dns.lookup;
  dns.lookup = function lookup(hostname, ...rest) {
    if (!hostname || isLoopbackHost(hostname) || isUnspecified(hostname)) {
      // `*.localhost` must not reach the system resolver (it may ask a DNS server): answer as `localhost`
      const h = typeof hostname === "string" && hostname.toLowerCase().replace(/\.$/, "").endsWith(".localhost") ? "localhost" : hostname;
      return origLookup.call(this, h, ...rest);
    }
    const cb = lastCallback(rest);
    const err = refuse("dns.lookup", hostname);
    if (!cb) throw err;
    process.nextTick(cb, err);
    return {};
  };

  const origLookupService = dns.lookupService;
  dns.lookupService = function lookupService(address, port, cb) {
    if (isLoopbackHost(address)) return origLookupService.call(this, address, port, cb);
    const err = refuse("dns.lookupService", address);
    if (typeof cb !== "function") throw err;
    process.nextTick(cb, err);
  };

  const dnsp = dns.promises;
  const origPLookup = dnsp.lookup;
  dnsp.lookup = function lookup(hostname, options) {
    if (!hostname || isLoopbackHost(hostname) || isUnspecified(hostname)) {
      const h = typeof hostname === "string" && hostname.toLowerCase().replace(/\.$/, "").endsWith(".localhost") ? "localhost" : hostname;
      return origPLookup.call(this, h, options);
    }
    return Promise.reject(refuse("dns.promises.lookup", hostname));
  };
  const origPLookupService = dnsp.lookupService;
  dnsp.lookupService = function lookupService(address, port) {
    if (isLoopbackHost(address)) return origPLookupService.call(this, address, port);
    return Promise.reject(refuse("dns.promises.lookupService", address));
  };

  // resolve*/reverse always ask a DNS server (c-ares reads no hosts file), even for
  // `localhost`: loopback names are answered here, everything else is refused
  const RESOLVE = ["resolve", "resolve4", "resolve6", "resolveAny", "resolveCaa", "resolveCname", "resolveMx", "resolveNaptr", "resolveNs", "resolvePtr", "resolveSoa", "resolveSrv", "resolveTxt", "reverse"];
  function localAnswer(method, host, rrtype) {
    if (method === "reverse") return ["localhost"];
    const type = method === "resolve" ? String(rrtype || "A").toUpperCase() : method.slice("resolve".length).toUpperCase();
    if (type === "4" || type === "A") return ["127.0.0.1"];
    if (type === "6" || type === "AAAA") return ["::1"];
    const err = new Error(`query${type} ENODATA ${host}`);
    err.code = "ENODATA";
    err.hostname = host;
    throw err;
  }
  function guardCallbackResolver(target, prefix) {
    for (const m of RESOLVE) {
      if (typeof target[m] !== "function") continue;
      target[m] = function guardedResolve(host, ...rest) {
        const cb = lastCallback(rest);
        let result;
        let err;
        if (isLoopbackHost(host)) {
          try {
            result = localAnswer(m, host, typeof rest[0] === "string" ? rest[0] : undefined);
          } catch (e) {
            err = e;
          }
        } else {
          err = refuse(`${prefix}${m}`, host);
        }
        if (!cb) throw err || new TypeError("callback required");
        process.nextTick(() => (err ? cb(err) : cb(null, result)));
        return {};
      };
    }
  }
  function guardPromiseResolver(target, prefix) {
    for (const m of RESOLVE) {
      if (typeof target[m] !== "function") continue;
      target[m] = function guardedResolve(host, rrtype) {
        if (!isLoopbackHost(host)) return Promise.reject(refuse(`${prefix}${m}`, host));
        try {
          return Promise.resolve(localAnswer(m, host, rrtype));
        } catch (e) {
          return Promise.reject(e);
        }
      };
    }
  }
  guardCallbackResolver(dns, "dns.");
  guardCallbackResolver(dns.Resolver.prototype, "dns.Resolver#");
  guardPromiseResolver(dnsp, "dns.promises.");
  guardPromiseResolver(dnsp.Resolver.prototype, "dns.promises.Resolver#");

  // ---- TCP / TLS -------------------------------------------------------------------

  const origConnect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connect(...args) {
    // the forms of net's normalizeArgs: (options[, cb]), (path[, cb]), (port[, host][, cb]), and ([options, cb]) from net internals
    let a = args;
    if (Array.isArray(a[0]) && a.length === 1) a = a[0];
    let host;
    let path;
    const first = a[0];
    if (first !== null && typeof first === "object") {
      path = first.path;
      host = first.host;
    } else if (typeof first === "string" && !/^\d+$/.test(first)) {
      path = first;
    } else {
      host = typeof a[1] === "string" ? a[1] : undefined;
    }
    if (path) return origConnect.apply(this, args);
    const target = host === undefined || host === null || host === "" ? "localhost" : String(host);
    if (isLoopbackHost(target)) return origConnect.apply(this, args);
    const err = refuse(this.encrypted ? "tls.connect" : "net.connect", target);
    // fail as a refused connection would: the connect listener never runs, the socket emits 'error'
    // (connecting, so what the caller writes meanwhile is queued, not an EPIPE of its own)
    this.connecting = true;
    process.nextTick(() => this.destroy(err));
    return this;
  };
}

module.exports = globalThis[KEY];
