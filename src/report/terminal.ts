/**
 * Terminal niceties for the table and plan text: colour only when stdout is a terminal (NO_COLOR
 * turns it off, FORCE_COLOR on; https://no-color.org, https://force-color.org), and a table whose
 * wide columns wrap to the terminal's width instead of running off its edge.
 */
import pc from "picocolors";

export type Colors = ReturnType<typeof pc.createColors>;

/** NO_COLOR (any non-empty value) wins, then FORCE_COLOR (anything but "0" / "false"), then whether stdout is a terminal. */
export function colorEnabled(env: Record<string, string | undefined>, stdoutIsTTY: boolean): boolean {
  if ((env["NO_COLOR"] ?? "") !== "") return false;
  const force = env["FORCE_COLOR"];
  if (force !== undefined) return !/^(0|false)$/i.test(force);
  return stdoutIsTTY;
}

export function colors(enabled: boolean): Colors {
  return pc.createColors(enabled);
}

/** Splits one cell into lines of at most `width` characters, at spaces or `/` where it can, mid-word where it must. */
export function wrapCell(text: string, width: number): string[] {
  if (width <= 0 || text.length <= width) return [text];
  const out: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const window = rest.slice(0, width + 1);
    let cut = Math.max(window.lastIndexOf(" "), window.lastIndexOf("/") + 1);
    if (cut <= 0 || cut > width) cut = width;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0) out.push(rest);
  return out;
}

export interface TableOptions {
  /** Terminal width: when the table is wider, the `wrap` columns wrap to fit. */
  columns?: number;
  /** Indexes of the columns that may wrap (the others keep their natural width). */
  wrap?: number[];
  /** Colours a cell after padding (widths are measured on the plain text). */
  paint?: (cell: string, column: number, row: number) => string;
}

const GAP = "  ";

export function renderTableRows(rows: string[][], options: TableOptions = {}): string {
  // a reduce, not Math.max(...rows): a spread of a few hundred thousand rows overflows the stack
  const widths = rows[0]!.map((_, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? "").length), 0));
  const total = widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1);
  const wrap = (options.wrap ?? []).filter((i) => i < widths.length);
  if (options.columns !== undefined && options.columns > 0 && total > options.columns && wrap.length > 0) {
    const fixed = widths.reduce((a, w, i) => a + (wrap.includes(i) ? 0 : w), 0) + GAP.length * (widths.length - 1);
    let room = Math.max(wrap.length * 12, options.columns - fixed);
    // share the room: the narrower wrapping columns keep their width, the widest ones split what is left
    const order = [...wrap].sort((a, b) => (widths[a] as number) - (widths[b] as number));
    for (const [k, i] of order.entries()) {
      const share = Math.floor(room / (order.length - k));
      const w = Math.max(12, Math.min(widths[i] as number, share));
      widths[i] = w;
      room -= w;
    }
  }
  const lines: string[] = [];
  for (const [ri, r] of rows.entries()) {
    const cells = r.map((c, i) => (wrap.includes(i) ? wrapCell(c, widths[i] as number) : [c]));
    const height = cells.reduce((h, c) => Math.max(h, c.length), 1);
    for (let k = 0; k < height; k++) {
      const parts = cells.map((c, i) => {
        const text = c[k] ?? "";
        const padded = i === cells.length - 1 ? text : text.padEnd(widths[i] ?? 0);
        return k === 0 && options.paint && text !== "" ? options.paint(padded, i, ri) : padded;
      });
      lines.push(parts.join(GAP).trimEnd());
    }
  }
  return lines.join("\n") + "\n";
}
