/**
 * Reading a file a user names (scan inputs, the demo's estate, the CA file,
 * the lock inventory) with a bound on what is read. A stat() size check alone
 * bounds nothing: /dev/zero and pipes report size 0 and a file may grow while
 * it is read; and opening a named pipe for reading waits for a writer. So the
 * file is opened non-blocking, refused unless fstat() on that open file says it
 * is a regular file, and read in chunks that stop once past the limit.
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";

/** Why a file was not read; `message` is "<file>: <problem>", one line. */
export class FileReadError extends Error {
  constructor(
    readonly file: string,
    /** What is wrong, e.g. "cannot read (ENOENT)", "not a regular file (a named pipe)", "too large (...)". */
    readonly problem: string,
    /** The errno code when the system refused the open or the read. */
    readonly code?: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = "FileReadError";
  }
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return "a named pipe";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "not a file";
}

/** Reads a regular file of at most `maxBytes` bytes; throws FileReadError otherwise (never blocks on a pipe, never reads past the limit). */
export function readBoundedFile(file: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; no effect on regular files (absent on Windows)
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new FileReadError(file, `cannot read (${code})`, code);
  }
  try {
    const st = fstatSync(fd);
    // a directory reads as EISDIR, as readFileSync reports it
    if (st.isDirectory()) throw new FileReadError(file, "cannot read (EISDIR)", "EISDIR");
    if (!st.isFile()) throw new FileReadError(file, `not a regular file (${kindOf(st)})`);
    if (st.size > maxBytes) throw new FileReadError(file, `too large (${st.size} bytes; the limit is ${maxBytes})`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // one byte more than the limit allows tells a file at the limit from one past it
      const buf = Buffer.allocUnsafe(Math.min(maxBytes + 1 - total, 1024 * 1024));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? "error";
        throw new FileReadError(file, `cannot read (${code})`, code);
      }
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new FileReadError(file, `too large (more than ${maxBytes} bytes)`);
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}
