/**
 * The lock inventory: every lock seen on a service (name, level, notes,
 * owners), so a deleted lock can be re-created exactly as it was. Memory and
 * JSON-file stores here; the Functions app keeps it in Table storage.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
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

export class FileLockInventory implements LockInventory {
  constructor(private readonly file: string) {}
  private load(): Record<string, LockRecord[]> {
    if (!existsSync(this.file)) return {};
    try {
      return JSON.parse(readFileSync(this.file, "utf8")) as Record<string, LockRecord[]>;
    } catch (e) {
      throw new Error(`lock inventory ${this.file} is not valid JSON: ${(e as Error).message}`);
    }
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
