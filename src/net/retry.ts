// Retrying what fails for a passing reason (a server restarting), with exponential backoff.
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function withRetry<T>(fn: () => Promise<T>, transient: (e: unknown) => boolean, attempts = 3, firstDelayMs = 500): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || !transient(e)) throw e;
      await sleep(firstDelayMs * 2 ** (i - 1));
    }
  }
}
