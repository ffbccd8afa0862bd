/**
 * vitest setupFiles (both configs): the network guard in this worker, and a
 * failure for the test during which this worker or a process it spawned made a
 * call off the machine (test/helpers/net-guard.cjs).
 */
import { afterAll, afterEach } from "vitest";
import { checkNoRefusals, netGuard } from "./net-guard.js";

netGuard();
// processes this worker spawns record their refusals under its pid
process.env["NET_GUARD_OWNER"] = String(process.pid);

afterEach(() => checkNoRefusals());
afterAll(() => checkNoRefusals());
