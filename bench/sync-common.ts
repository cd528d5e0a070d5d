// What bench/sync.ts and the process it measures in (sync-child.ts) agree on.
export const USERS = Number(process.env.BENCH_USERS ?? 100_000);
export const PAGE = 1000;

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}
