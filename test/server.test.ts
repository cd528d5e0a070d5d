import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { Registry } from '../src/observe/metrics.js';
import { serveHttp } from '../src/server/http.js';
import { createLogger } from '../src/observe/log.js';

describe('metrics', () => {
  it('renders counters, gauges and histograms in the Prometheus text format', () => {
    const r = new Registry();
    const c = r.counter('mdmops_reconcile_total', 'Reconciles.');
    const g = r.gauge('mdmops_queue_depth', 'Queued keys.');
    const h = r.histogram('mdmops_reconcile_seconds', 'Reconcile durations.', [0.1, 1]);
    c.inc({ kind: 'Connector', result: 'ok' });
    c.inc({ kind: 'Connector', result: 'ok' });
    c.inc({ kind: 'Space', result: 'error' });
    g.set(3);
    h.observe(0.05, { kind: 'Space' });
    h.observe(0.5, { kind: 'Space' });
    const text = r.render();
    expect(text).toContain('# TYPE mdmops_reconcile_total counter');
    expect(text).toContain('mdmops_reconcile_total{kind="Connector",result="ok"} 2');
    expect(text).toContain('mdmops_reconcile_total{kind="Space",result="error"} 1');
    expect(text).toContain('mdmops_queue_depth 3');
    expect(text).toContain('mdmops_reconcile_seconds_bucket{kind="Space",le="0.1"} 1');
    expect(text).toContain('mdmops_reconcile_seconds_bucket{kind="Space",le="1"} 2');
    expect(text).toContain('mdmops_reconcile_seconds_bucket{kind="Space",le="+Inf"} 2');
    expect(text).toContain('mdmops_reconcile_seconds_count{kind="Space"} 2');
  });

  it('escapes label values', () => {
    const r = new Registry();
    r.counter('x_total', 'x').inc({ path: 'a"b\\c\nd' });
    expect(r.render()).toContain('x_total{path="a\\"b\\\\c\\nd"} 1');
  });
});

describe('http', () => {
  it('serves health, readiness, metrics and routes, and refuses large bodies', async () => {
    const metrics = new Registry();
    metrics.counter('hits_total', 'Hits.').inc();
    let ready: string | undefined = 'waiting for the first sync';
    const http = await serveHttp({
      host: '127.0.0.1', port: 0, metrics, notReady: () => ready, maxBody: 10,
      routes: { 'POST /echo': async (_req, body) => ({ status: 202, body: { got: (await body()).toString() } }) },
    });
    const base = `http://127.0.0.1:${http.port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toContain('waiting for the first sync');
      ready = undefined;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('hits_total 1');
      const echo = await fetch(`${base}/echo`, { method: 'POST', body: 'hello' });
      expect(echo.status).toBe(202);
      expect(await echo.json()).toEqual({ got: 'hello' });
      expect((await fetch(`${base}/echo`, { method: 'POST', body: 'x'.repeat(11) })).status).toBe(413);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
    } finally {
      await http.close();
    }
  });
});

describe('log', () => {
  it('writes JSON lines with secret fields redacted', () => {
    let out = '';
    const destination = new Writable({ write(chunk, _enc, done) { out += chunk.toString(); done(); } });
    const log = createLogger({ pretty: false, destination });
    log.info({ repo: 'https://example.com/r.git', password: 'hunter2', auth: { token: 'abc123' } }, 'fetched');
    const line = JSON.parse(out.trim());
    expect(line.msg).toBe('fetched');
    expect(line.repo).toBe('https://example.com/r.git');
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('abc123');
    expect(line.password).toBe('[redacted]');
  });
});
