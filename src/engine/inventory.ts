/**
 * The lock inventory: every lock seen on a service (name, level, notes,
 * owners), so a deleted lock can be re-created exactly as it was. Memory and
 * JSON-file stores here; the Functions app keeps it in Table storage.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { FileReadError, readBoundedFile } from "../common/files.js";
import { InputError } from "./offline.js";
import type { ArmResource } from "../model/arm.js";
import { pick, str } from "../model/arm.js";
import type { LockRecord } from "../model/snapshot.js";

export type { LockRecord };

export interface LockInventory {
  get(serviceId: string): Promise<LockRecord[]> | LockRecord[];
  /** Adds the locks seen now to what is known (never forgets a lock: deletion is what it guards against). */
  remember(serviceId: string, locks: LockRecord[]): Promise<void> | void;
}

/** Locks placed on the service itself (not inherited), as inventory records. */
export function ownLocks(serviceId: string, locks: ArmResource[]): LockRecord[] {
  const prefix = `${serviceId.toLowerCase()}/providers/microsoft.authorization/locks/`;
  return locks
    .filter((l) => l.id.toLowerCase().startsWith(prefix))
    .map((l) => ({ id: l.id, name: l.name, level: str(pick(l, "properties.level")) ?? "CanNotDelete", notes: str(pick(l, "properties.notes")), owners: pick(l, "properties.owners") }));
}

function merge(known: LockRecord[], seen: LockRecord[]): LockRecord[] {
  const byName = new Map(known.map((l) => [l.name.toLowerCase(), l]));
  for (const l of seen) byName.set(l.name.toLowerCase(), l);
  return [...byName.values()];
}

export class MemoryLockInventory implements LockInventory {
  private readonly data = new Map<string, LockRecord[]>();
  get(serviceId: string): LockRecord[] {
    return this.data.get(serviceId.toLowerCase()) ?? [];
  }
  remember(serviceId: string, locks: LockRecord[]): void {
    if (locks.length === 0) return;
    this.data.set(serviceId.toLowerCase(), merge(this.get(serviceId), locks));
  }
}

/** The inventory file is small; a bound keeps a wrong path (a device, a huge file) from eating memory. */
export const MAX_INVENTORY_BYTES = 16 * 1024 * 1024;

/** The file's shape: service id (lower case) -> the lock records seen on it. */
const INVENTORY_FILE = z.record(z.string(), z.array(z.looseObject({ id: z.string(), name: z.string().min(1), level: z.string(), notes: z.string().optional() })));

/** A file-backed inventory (the CLI's `--state-dir`); a malformed file is refused when the inventory is opened, before anything runs. */
export class FileLockInventory implements LockInventory {
  constructor(private readonly file: string) {
    this.load();
  }
  /** The inventory, or InputError with one line naming the file. */
  private load(): Record<string, LockRecord[]> {
    if (!existsSync(this.file)) return {};
    let value: unknown;
    try {
      value = JSON.parse(readBoundedFile(this.file, MAX_INVENTORY_BYTES).toString("utf8"));
    } catch (e) {
      if (e instanceof FileReadError) throw new InputError(`lock inventory ${e.message}`);
      throw new InputError(`lock inventory ${this.file}: not valid JSON (${(e as Error).message.split("\n")[0]})`);
    }
    const parsed = INVENTORY_FILE.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const at = issue && issue.path.length > 0 ? ` at ${issue.path.map((p) => JSON.stringify(String(p))).join(" > ")}` : "";
      throw new InputError(`lock inventory ${this.file}: not a lock inventory (expected an object of service id -> [{ id, name, level }]${at}: ${(issue?.message ?? "invalid").split("\n")[0]})`);
    }
    return parsed.data as Record<string, LockRecord[]>;
  }
  get(serviceId: string): LockRecord[] {
    return this.load()[serviceId.toLowerCase()] ?? [];
  }
  remember(serviceId: string, locks: LockRecord[]): void {
    if (locks.length === 0) return;
    const all = this.load();
    all[serviceId.toLowerCase()] = merge(all[serviceId.toLowerCase()] ?? [], locks);
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(all, null, 2));
    renameSync(tmp, this.file);
  }
}
