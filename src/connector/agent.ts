// The connector agent: runs inside the customer network and only dials out. It enrols once (a
// one-time token and a CSR; its key never leaves it), then keeps one TLS connection to the gateway
// with its client certificate, serving HTTP/2 on it: the gateway opens a control stream and a
// CONNECT stream per connection to a server the tenant's resources name. It reconnects with capped,
// jittered backoff, renews its certificate before it ends, and applies the log level it is given.
import { AGENT_CERTIFICATE_POLICIES, AGENT_RENEW_AFTER_SHARE, firstTrigger } from '../pki/renewal.js';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2, { type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import net, { isIP, type Socket } from 'node:net';
import { basename, join } from 'node:path';
import tls, { type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { SECOND } from '../api/duration.js';
import type { LogLevel } from '../api/index.js';
import { effectiveLogLevel, pinoLevel } from '../api/log-level.js';
import { splice } from '../net/dial.js';
import { bypassesProxy, connectThroughProxy, type ProxySettings } from '../net/proxy.js';
import type { Logger } from '../observe/log.js';
import { certificationRequest, toPem } from '../pki/certificate.js';
import { makeKey } from '../pki/keys.js';
import { subjectName } from '../pki/name.js';
import { messageOf } from '../util/message-of.js';
import { collectLogs } from './agent-log.js';
import { spkiPin } from './authority.js';
import { CONNECTION_WINDOW, CONTROL_PATH, ENROL_PATH, FRAME_SIZE, LOGS_PATH, STREAM_WINDOW, jsonLines, line, REFUSAL_HEADER, TUNNEL_ALPN, type AgentMessage, type EnrolAnswer, type GatewayMessage } from './protocol.js';
import { readToken, secretSha256 } from './token.js';

export interface AgentOptions {
  /** https://HOST:PORT of the gateway. */
  server: string;
  tokenFile?: string;
  stateDir: string;
  /** Where kocab.log is written: what a log collection zips. */
  logDir: string;
  /** --proxy: used until the Connector's httpProxy says otherwise. */
  proxy?: string;
  hostname: string;
  version: string;
  log: Logger;
  /** The agent's clock (log level reverts, certificate renewal): a test's own. */
  now?: () => Date;
}

export class AgentError extends Error {}

type Settings = Extract<GatewayMessage, { type: 'settings' }>;

interface Identity {
  tenant: string;
  connector: string;
  /** The SHA-256 of the token it enrolled with: another token in --token-file enrols it again. */
  tokenSha256?: string;
}

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30 * SECOND;
const CONNECT_WITHIN_MS = 15 * SECOND;
/** A connection that lasted this long starts the backoff over. */
const STEADY_MS = 10 * SECOND;

/** The files the agent keeps in its state folder (0700; keys and credentials 0600). */
class AgentState {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  private path = (name: string) => join(this.dir, name);
  read = (name: string) => (existsSync(this.path(name)) ? readFileSync(this.path(name), 'utf8') : undefined);
  /** Written whole or not at all. */
  write(name: string, text: string) {
    const temp = this.path(`.${name}.new`);
    writeFileSync(temp, text, { mode: 0o600 });
    renameSync(temp, this.path(name));
  }
  get enrolled() {
    return !!this.read('certificate.pem') && !!this.read('key.pem') && !!this.read('gateway-ca.pem');
  }
  get identity(): Identity {
    return JSON.parse(this.read('connector.json')!) as Identity;
  }
  get settings(): Settings | undefined {
    const text = this.read('settings.json');
    return text ? (JSON.parse(text) as Settings) : undefined;
  }
}

export class Agent {
  private readonly state: AgentState;
  private readonly now: () => Date;
  private settings?: Settings;
  private lastError?: string;
  private renewing = false;
  private renewKey?: string;
  private levelTimer?: NodeJS.Timeout;
  /** The log collection under way, if one is. */
  private collecting?: AbortController;

  constructor(private readonly o: AgentOptions) {
    this.state = new AgentState(o.stateDir);
    this.now = o.now ?? (() => new Date());
    this.settings = this.state.settings;
  }

  /** Enrols if need be, then stays connected until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    if (!this.state.enrolled) await this.enrol();
    else if (this.newToken()) {
      this.o.log.info(`enrolled as ${this.who()} with another token: enrolling again with the one in --token-file`);
      await this.enrol();
    } else if (this.o.tokenFile) this.o.log.info(`already enrolled as ${this.who()}: --token-file is not needed any more`);
    // The level reverts on the agent's own clock, connected or not.
    this.applyLogLevel();
    this.levelTimer = setInterval(() => this.applyLogLevel(), SECOND);
    this.levelTimer.unref();
    let failures = 0;
    try {
      while (!signal.aborted) {
        const started = Date.now();
        try {
          const socket = await this.dial(TUNNEL_ALPN, signal);
          await this.serve(socket, signal);
        } catch (e) {
          this.lastError = messageOf(e);
          if (!signal.aborted) this.o.log.warn(`cannot reach the gateway ${this.o.server}: ${this.lastError}`);
        }
        if (signal.aborted) break;
        failures = Date.now() - started >= STEADY_MS ? 1 : failures + 1;
        // Capped exponential backoff with full jitter, so that agents do not all come back at once.
        const delay = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** failures);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
        });
      }
    } finally {
      clearInterval(this.levelTimer);
    }
  }

  private who() {
    const { tenant, connector } = this.state.identity;
    return `Connector/${connector}${tenant === 'default' ? '' : ` of tenant ${tenant}`}`;
  }

  // --- enrolment --------------------------------------------------------------------------------

  /**
   * Whether --token-file holds a token other than the one this agent enrolled with (its certificate
   * was revoked, its Connector made again): the way to enrol again without emptying --state-dir.
   * The same token, or a file gone, changes nothing, so a service may keep passing it.
   */
  private newToken(): boolean {
    const enrolledWith = this.state.identity.tokenSha256;
    if (!this.o.tokenFile || !enrolledWith || !existsSync(this.o.tokenFile)) return false;
    return secretSha256(readFileSync(this.o.tokenFile, 'utf8').trim()) !== enrolledWith;
  }

  private async enrol() {
    if (!this.o.tokenFile) throw new AgentError(`${this.o.stateDir} holds no agent certificate: enrol with --token-file (mdmops connector token Connector/NAME makes a token)`);
    let text: string;
    try {
      text = readFileSync(this.o.tokenFile, 'utf8');
    } catch (e) {
      throw new AgentError(`--token-file ${this.o.tokenFile}: ${messageOf(e)}`);
    }
    const token = readToken(text);
    const socket = await this.dial('http/1.1', undefined, token.pin).catch((e: unknown) => {
      throw e instanceof AgentError ? e : new AgentError(`cannot reach the gateway ${this.o.server} to enrol: ${messageOf(e)}`);
    });
    const key = await makeKey('ECDSA-P256');
    const csr = await certificationRequest({ key, subject: subjectName({ commonName: token.connector }) });
    const answer = await postJson(socket, new URL(this.o.server).host, ENROL_PATH, { token: text.trim(), csr: toPem(csr, 'CERTIFICATE REQUEST'), hostname: this.o.hostname, version: this.o.version });
    if (answer.status !== 200) throw new AgentError(`the gateway refused the enrolment: ${String((answer.body as { error?: string }).error ?? `status ${answer.status}`)}`);
    const enrolled = answer.body as EnrolAnswer;
    this.state.write('key.pem', key.export({ type: 'pkcs8', format: 'pem' }) as string);
    this.state.write('certificate.pem', enrolled.certificate);
    this.state.write('connector.json', JSON.stringify({ tenant: enrolled.tenant, connector: enrolled.connector, tokenSha256: secretSha256(text.trim()) } satisfies Identity));
    this.o.log.info(`enrolled as ${this.who()}; from now on the agent connects with its certificate (${this.o.stateDir})`);
  }

  // --- the connection to the gateway ------------------------------------------------------------

  /** TLS to the gateway, through the proxy when one applies; `pin` for enrolment, the kept gateway CA after. */
  private async dial(alpn: string, signal?: AbortSignal, pin?: string): Promise<TLSSocket> {
    const url = new URL(this.o.server);
    if (url.protocol !== 'https:') throw new AgentError(`--server ${this.o.server}: the gateway is reached over https://`);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port || 443);
    const through = await this.throughProxy(host, port, signal);
    const enrolled = !pin;
    const socket = tls.connect({
      ...(through ? { socket: through, host } : { host, port }),
      ...(isIP(host) ? {} : { servername: host }),
      ALPNProtocols: [alpn],
      ...(enrolled ? { ca: this.state.read('gateway-ca.pem'), cert: this.state.read('certificate.pem'), key: this.state.read('key.pem') } : { rejectUnauthorized: false }),
    });
    await new Promise<void>((resolve, reject) => {
      // A gateway that does not answer (a black hole) is given up on, not waited for as long as TCP would.
      const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${CONNECT_WITHIN_MS / SECOND} s`)), CONNECT_WITHIN_MS);
      socket.once('secureConnect', () => (clearTimeout(timer), resolve()));
      socket.once('error', (e) => (clearTimeout(timer), reject(e)));
    });
    if (pin) {
      const refused = this.trustPinned(socket, host, pin);
      if (refused) {
        socket.destroy();
        throw new AgentError(refused);
      }
    }
    return socket;
  }

  /** Checks the gateway's chain against the token's pin and keeps the pinned CA; why not, if not. */
  private trustPinned(socket: TLSSocket, host: string, pin: string): string | undefined {
    const chain: X509Certificate[] = [];
    for (let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); c?.raw && chain.length < 10; c = c.issuerCertificate) {
      const cert = new X509Certificate(c.raw);
      if (chain.at(-1)?.fingerprint256 === cert.fingerprint256) break;
      chain.push(cert);
    }
    const pinned = chain.findIndex((c) => spkiPin(c) === pin);
    if (pinned < 0) return `the server at ${this.o.server} is not the gateway the token names: none of its certificates has the pinned key (${pin.slice(0, 16)}…)`;
    for (let i = 0; i < pinned; i++) {
      if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) return `the gateway's certificate chain does not lead to the pinned CA`;
    }
    const leaf = socket.getPeerCertificate();
    const wrongName = tls.checkServerIdentity(host, leaf);
    if (wrongName) {
      const names = new X509Certificate(leaf.raw).subjectAltName?.replace(/(DNS|IP Address):/g, '') ?? 'no name';
      return `the gateway's certificate is not valid for ${host} (it is for ${names}): give --server one of those names, or add ${host} to the names of the gateway's certificate (--gateway-name on the server)`;
    }
    this.state.write('gateway-ca.pem', chain[pinned]!.toString());
    return undefined;
  }

  /**
   * The connection to the gateway through the Connector's httpProxy, else through --proxy (so that a
   * wrong proxy in the spec does not lock the agent out: what went wrong is said in its next hello);
   * undefined to connect directly.
   */
  private async throughProxy(host: string, port: number, signal?: AbortSignal): Promise<Socket | undefined> {
    const proxies = [this.settings?.proxy, this.o.proxy ? { url: this.o.proxy } : undefined].filter((p): p is ProxySettings => !!p && !bypassesProxy(host, port, p.noProxy));
    if (!proxies.length) return undefined;
    let failure: unknown;
    for (const proxy of proxies) {
      try {
        return await connectThroughProxy(proxy, host, port, { signal });
      } catch (e) {
        failure = e;
        this.lastError = messageOf(e);
        this.o.log.warn(`cannot reach the gateway through ${new URL(proxy.url).origin}: ${this.lastError}`);
      }
    }
    throw failure;
  }

  /** Serves the gateway's streams on the connection until it closes. */
  private serve(socket: TLSSocket, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const server = http2.createServer({ settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: FRAME_SIZE } });
      server.on('session', (session) => session.setLocalWindowSize(CONNECTION_WINDOW));
      const streams = new Set<ServerHttp2Stream>();
      server.on('stream', (stream, headers) => {
        streams.add(stream);
        stream.on('close', () => streams.delete(stream));
        stream.on('error', () => undefined);
        this.onStream(stream, headers).catch((e: unknown) => {
          this.o.log.debug(`a stream from the gateway ended: ${messageOf(e)}`);
          stream.destroy();
        });
      });
      server.on('sessionError', () => undefined);
      const stop = () => socket.destroy();
      signal.addEventListener('abort', stop, { once: true });
      socket.once('close', () => {
        signal.removeEventListener('abort', stop);
        for (const s of streams) s.destroy();
        this.o.log.info(`disconnected from the gateway ${this.o.server}`);
        resolve();
      });
      server.emit('connection', socket);
    });
  }

  private async onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders) {
    const method = headers[':method'];
    if (method === 'CONNECT') return this.connect(stream, String(headers[':authority'] ?? ''));
    const path = String(headers[':path'] ?? '');
    if (method === 'GET' && path.startsWith(LOGS_PATH)) return this.sendCollected(stream, decodeURIComponent(path.slice(LOGS_PATH.length)));
    if (method === 'POST' && headers[':path'] === CONTROL_PATH) {
      const refused = headers[REFUSAL_HEADER];
      if (refused) {
        this.lastError = `the gateway refused this agent: ${decodeURIComponent(String(refused))}`;
        this.o.log.error(this.lastError);
        stream.respond({ ':status': 200 }, { endStream: true });
        return;
      }
      return this.control(stream);
    }
    stream.respond({ ':status': 404 }, { endStream: true });
  }

  // --- control ----------------------------------------------------------------------------------

  private async control(stream: ServerHttp2Stream) {
    stream.respond({ ':status': 200 });
    const send = (m: AgentMessage) => stream.writable && stream.write(line(m));
    const certificate = new X509Certificate(this.state.read('certificate.pem')!);
    send({ type: 'hello', version: this.o.version, hostname: this.o.hostname, certificateNotAfter: new Date(certificate.validTo).toISOString(), ...(this.lastError ? { lastError: this.lastError } : {}) });
    this.o.log.info(`connected to the gateway ${this.o.server} as ${this.who()}`);
    this.lastError = undefined;
    let beat: NodeJS.Timeout | undefined;
    const heartbeat = () => {
      const level = effectiveLogLevel(this.settings?.logLevel, this.settings?.logLevelSince, this.now());
      send({ type: 'heartbeat', logLevel: level.level, ...(level.revertsAt ? { logLevelRevertsAt: level.revertsAt } : {}) });
      void this.renewIfDue(send);
      beat = setTimeout(heartbeat, this.settings?.heartbeatMs ?? 10 * SECOND);
    };
    heartbeat();
    try {
      for await (const m of jsonLines<GatewayMessage>(stream)) {
        if (m.type === 'settings') {
          this.settings = m;
          this.state.write('settings.json', JSON.stringify(m));
          this.applyLogLevel();
          send({ type: 'ack', seq: m.seq });
        } else if (m.type === 'certificate') {
          this.renewed(m.certificate, m.error);
        } else if (m.type === 'collect-logs') {
          send({ type: 'ack', seq: m.seq });
          void this.collect(m.id, send);
        } else if (m.type === 'cancel-logs') {
          this.collecting?.abort();
          send({ type: 'ack', seq: m.seq });
        } else {
          // From a newer gateway: said, not fatal.
          const unknown = m as { type: string; seq: number };
          send({ type: 'ack', seq: unknown.seq, error: `this agent (${this.o.version}) does not know ${unknown.type}` });
        }
      }
    } finally {
      clearTimeout(beat);
    }
  }

  /** Zips the log folder for the gateway to fetch; a new request replaces the zip before, a cancelled one leaves none. */
  private async collect(id: string, send: (m: AgentMessage) => unknown) {
    this.collecting?.abort();
    const collecting = (this.collecting = new AbortController());
    this.o.log.info('collecting the logs, as the gateway asked');
    try {
      const path = await collectLogs({ logDir: this.o.logDir, outDir: this.collectedDir(), hostname: this.o.hostname, version: this.o.version, now: this.now(), signal: collecting.signal });
      send({ type: 'logs', id, state: 'ready', name: basename(path), size: statSync(path).size });
      this.o.log.info(`logs collected into ${basename(path)}`);
    } catch (e) {
      const cancelled = collecting.signal.aborted;
      send({ type: 'logs', id, state: cancelled ? 'cancelled' : 'failed', ...(cancelled ? {} : { error: messageOf(e) }) });
      this.o.log.info(cancelled ? 'the log collection was cancelled' : `the log collection failed: ${messageOf(e)}`);
    } finally {
      if (this.collecting === collecting) this.collecting = undefined;
    }
  }

  private collectedDir = () => join(this.o.stateDir, 'collected');

  private sendCollected(stream: ServerHttp2Stream, name: string) {
    const path = join(this.collectedDir(), name);
    if (name !== basename(name) || !name.endsWith('.zip') || !existsSync(path)) return void stream.respond({ ':status': 404 }, { endStream: true });
    stream.respondWithFile(path, { 'content-type': 'application/zip' });
  }

  private applyLogLevel() {
    const level: LogLevel = effectiveLogLevel(this.settings?.logLevel, this.settings?.logLevelSince, this.now()).level;
    const wanted = pinoLevel(level);
    if (this.o.log.level !== wanted) {
      this.o.log.level = wanted;
      this.o.log.info(`log level ${level}`);
    }
  }

  /** Past two thirds of its certificate's life (pki/renewal.ts), the agent asks for a new one for a new key. */
  private async renewIfDue(send: (m: AgentMessage) => unknown) {
    if (this.renewing) return;
    const cert = new X509Certificate(this.state.read('certificate.pem')!);
    const held = { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
    const due = firstTrigger(AGENT_CERTIFICATE_POLICIES, { now: this.now().getTime(), held, renewAfterShare: AGENT_RENEW_AFTER_SHARE });
    if (!due) return;
    this.renewing = true;
    const key = await makeKey('ECDSA-P256');
    this.renewKey = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    const csr = await certificationRequest({ key, subject: subjectName({ commonName: this.state.identity.connector }) });
    this.o.log.info(`asking for a new certificate (${due.message})`);
    send({ type: 'renew', csr: toPem(csr, 'CERTIFICATE REQUEST') });
  }

  private renewed(certificate: string | undefined, error: string | undefined) {
    this.renewing = false;
    if (!certificate || !this.renewKey) return void this.o.log.warn(`the gateway did not renew the certificate: ${error ?? 'no certificate'}`);
    // The key and its certificate are replaced together: the next connection uses them.
    this.state.write('key.pem', this.renewKey);
    this.state.write('certificate.pem', certificate);
    this.renewKey = undefined;
    this.o.log.info(`renewed the certificate, valid until ${new Date(new X509Certificate(certificate).validTo).toISOString()}`);
  }

  // --- data streams -----------------------------------------------------------------------------

  private async connect(stream: ServerHttp2Stream, authority: string) {
    const refuse = (status: number, why: string) => {
      if (!stream.destroyed) stream.respond({ ':status': status, [REFUSAL_HEADER]: encodeURIComponent(why) }, { endStream: true });
    };
    if (this.settings?.enabled === false) return refuse(403, 'the connector is disabled (enabled: false): it carries no traffic');
    if (!this.settings?.destinations.includes(authority)) {
      this.o.log.warn(`refused a connection to ${authority}: no resource of the tenant names it through this connector`);
      return refuse(403, `no resource names ${authority} through this connector`);
    }
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(authority)!;
    const socket = net.connect({ host: m[1]!, port: Number(m[2]) });
    socket.setNoDelay(true);
    socket.once('error', (e) => {
      if (!stream.headersSent) refuse(502, messageOf(e));
      else stream.destroy();
    });
    socket.once('connect', () => {
      this.o.log.debug(`connected to ${authority}`);
      stream.respond({ ':status': 200 });
      splice(stream, socket);
    });
    stream.once('close', () => socket.destroy());
  }
}

/** One JSON request on a connection made already (TLS to the gateway). */
function postJson(socket: TLSSocket, host: string, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host, path, method: 'POST', createConnection: () => socket, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        socket.destroy();
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) });
        } catch {
          reject(new AgentError(`the gateway answered ${res.statusCode} with something that is not JSON`));
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
