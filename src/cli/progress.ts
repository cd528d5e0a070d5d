// Progress of long work on a terminal: one line redrawn in place, at most ten times a second.
// Nothing is drawn when stderr is not a terminal (CI logs, pipes).

const WIDTH = 30;

export interface Counting {
  /** What is counted: "users read". */
  unit: string;
  /** The total is a guess (the last round's count). */
  estimated: boolean;
}

/** A count, and a bar when the total is known (or estimated). Pure. */
export function progressLine(label: string, done: number, total: number | undefined, elapsedMs: number, counting: Counting = { unit: 'users read', estimated: true }): string {
  const rate = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0;
  const tail = `${done.toLocaleString('en-US')} ${total ? `/ ${counting.estimated ? '~' : ''}${total.toLocaleString('en-US')} ` : ''}${counting.unit}, ${rate.toLocaleString('en-US')}/s`;
  if (!total) return `${label} ${tail}`;
  // The bar comes last: a narrow terminal cuts it, not the counts.
  const filled = Math.min(WIDTH, Math.round((done / total) * WIDTH));
  return `${label} ${tail} [${'#'.repeat(filled)}${' '.repeat(WIDTH - filled)}]`;
}

export function terminalProgress(label: string, stream: NodeJS.WriteStream = process.stderr) {
  const started = Date.now();
  let last = 0;
  let drawn = false;
  return {
    /** With `unit`, the total is exact; without, it is the last round's users. */
    update(done: number, total?: number, unit?: string) {
      if (!stream.isTTY || Date.now() - last < 100) return;
      last = Date.now();
      drawn = true;
      const counting = unit ? { unit, estimated: false } : undefined;
      stream.write(`\r${progressLine(label, done, total, Date.now() - started, counting).slice(0, (stream.columns || 80) - 1)}\x1b[K`);
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
