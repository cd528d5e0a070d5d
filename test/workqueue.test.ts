// The controller's work queue on a fake clock: deduplication, one worker per key, re-queue after
// processing, delayed adds, per-key exponential backoff and the overall token bucket, shutdown.
import { describe, expect, it } from 'vitest';
import { WorkQueue, type Clock } from '../src/kube/workqueue.js';

class FakeClock implements Clock {
  private t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 0;
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = ++this.next;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown) {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  /** Moves time on, firing what falls due in order. */
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const due = this.timers[0];
      if (!due || due.at > end) break;
      this.timers.shift();
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
  get pending() {
    return this.timers.length;
  }
}

/** Resolves to what get() gave, or 'waiting' if it has not resolved yet. */
async function peek(p: Promise<string | undefined>): Promise<string | undefined | 'waiting'> {
  return Promise.race([p, new Promise<'waiting'>((r) => setImmediate(() => r('waiting')))]);
}

describe('work queue', () => {
  it('hands out each key once however often it was added, in order', async () => {
    const depths: number[] = [];
    const q = new WorkQueue({ clock: new FakeClock(), onDepth: (d) => depths.push(d) });
    for (const k of ['a', 'b', 'a', 'c', 'b', 'a']) q.add(k);
    expect(q.depth).toBe(3);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(['a', 'b', 'c']);
    expect(q.depth).toBe(0);
    expect(await peek(q.get())).toBe('waiting');
    expect(depths).toContain(3);
    expect(depths.at(-1)).toBe(0);
  });

  it('never gives a key to two workers: added while processing, it comes back once done', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const first = await q.get();
    expect(first).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.depth).toBe(0);
    const second = q.get();
    expect(await peek(second)).toBe('waiting');
    q.done('a');
    expect(await second).toBe('a');
    q.done('a');
    expect(await peek(q.get())).toBe('waiting');
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
  });

  it('adds after a delay; an earlier pending add wins over a later one', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000);
    expect(clock.pending).toBe(1);
    clock.advance(999);
    expect(q.depth).toBe(0);
    clock.advance(1);
    expect(q.depth).toBe(1);
    q.addAfter('b', 5000);
    q.addAfter('b', 200);
    expect(clock.pending).toBe(1);
    clock.advance(200);
    expect(q.depth).toBe(2);
  });

  it('backs off per key exponentially from 5 ms, doubling to 5 minutes, and forget starts over', () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const delays = Array.from({ length: 20 }, () => q.whenNext('a'));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays.at(-1)).toBe(300_000);
    expect(Math.max(...delays)).toBe(300_000);
    expect(q.failures('a')).toBe(20);
    expect(q.whenNext('b')).toBe(5); // another key has its own count
    q.forget('a');
    expect(q.failures('a')).toBe(0);
    expect(q.whenNext('a')).toBe(5);
  });

  it('limits retries overall with a token bucket: past the burst, they are spread at qps', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, limits: { qps: 10, burst: 3 } });
    const delays = ['a', 'b', 'c', 'd', 'e'].map((k) => q.whenNext(k));
    expect(delays).toEqual([5, 5, 5, 100, 200]);
    clock.advance(1000); // ten tokens come back, capped at the burst of three
    expect(['f', 'g', 'h', 'i', 'j'].map((k) => q.whenNext(k))).toEqual([5, 5, 5, 100, 200]);
  });

  it('re-queues a failed key after its backoff', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    const k = (await q.get())!;
    q.addRateLimited(k);
    q.done(k);
    expect(q.depth).toBe(0);
    clock.advance(4);
    expect(q.depth).toBe(0);
    clock.advance(1);
    expect(q.depth).toBe(1);
  });

  it('on shutdown hands out nothing more, drops delayed keys, and tells when the last worker is done', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    q.add('b');
    q.addAfter('c', 100);
    const a = (await q.get())!;
    const idle = q.get(); // a second worker waiting... gets b
    expect(await idle).toBe('b');
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    expect(await q.get()).toBeUndefined();
    expect(clock.pending).toBe(0);
    q.add('d');
    expect(q.depth).toBe(0);
    let drained = false;
    const done = q.drained().then(() => (drained = true));
    q.done(a);
    await peek(Promise.resolve(undefined));
    expect(drained).toBe(false);
    q.done('b');
    await done;
    expect(drained).toBe(true);
  });
});
