// The gateway: where connector agents dial in. It enrols agents (a one-time token and a CSR in, a
// client certificate of the tenant's connector CA out), then holds one HTTP/2 connection per agent,
// on which it is the client: a control stream (hello, heartbeats, settings, renewals) and a CONNECT
// stream for each connection to a server inside the customer network. What it knows of an agent
// goes into the tenant store (presence.ts), so that any process can tell whether a connector is up.
import { randomUUID, X509Certificate } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls, { type TLSSocket } from 'node:tls';
import { SECOND } from '../api/duration.js';
import type { SecretResolver } from '../config/secrets.js';
import { idKey } from '../config/desired.js';
import type { ConnectorRoute, ProviderRegistry } from '../engine/provider.js';
import { destinationOf, hostPort, RouteError, type RouteRequest, type Tunnels } from '../net/dial.js';
import type { Logger } from '../observe/log.js';
import { requestPublicKey } from '../pki/certificate.js';
import { CERTIFICATES, connectorId, PRESENCE, PRESENCE_EVERY_MS, readSealed, sealedWrite, TOKEN, type LogCollection, type Presence } from '../providers/connector/presence.js';
import type { MasterKey } from '../store/master-key.js';
import type { ResourceId, Store, StoredRecord } from '../store/types.js';
import { messageOf } from '../util/message-of.js';
import { readCapped } from '../util/read-capped.js';
import { agentOf, certificateSha256, issueAgentCertificate, tenantCaCertificate, tenantConnectorCa, type GatewayTls } from './authority.js';
import { CONNECTION_WINDOW, CONTROL_PATH, ENROL_PATH, FRAME_SIZE, LOGS_PATH, STREAM_WINDOW, jsonLines, line, REFUSAL_HEADER, TUNNEL_ALPN, type AgentMessage, type EnrolAnswer, type EnrolRequest, type GatewayMessage, type ProxySetting } from './protocol.js';
import { readToken, secretSha256, TokenError, type StoredToken } from './token.js';

export interface GatewayOptions {
  store: Store;
  key: MasterKey;
  providers: ProviderRegistry;
  secrets: SecretResolver;
  tls: GatewayTls;
  log: Logger;
  /** This server's version: an agent older than it is reported outdated. */
  version: string;
  heartbeatMs?: number;
  agentCertificateDays?: number;
  /** A connector's agent came, went or said something new: its status is to be looked at again. */
  onChange?(id: ResourceId): void;
}

type Settings = Extract<GatewayMessage, { type: 'settings' }>;

interface Session {
  id: ResourceId;
  h2: ClientHttp2Session;
  control: ClientHttp2Stream;
  presence: Presence;
  lastBeat: number;
  lastWritten: number;
  seq: number;
  acks: Map<number, { resolve(): void; reject(e: Error): void }>;
  /** The settings the agent acknowledged last, as sent (without seq), and the destinations in them. */
  settings?: string;
  destinations: Set<string>;
  /** Destinations of connections being opened now for resources that may not be stored yet, with their count. */
  opening: Map<string, number>;
  /** Settings are given one at a time, so that what the agent has is what was last acknowledged. */
  pushing: Promise<void>;
  /** When its settings were last worked out from the store, and what the Connector itself said in them. */
  settingsAt: number;
  settingsFrom?: string;
}

const HELLO_WITHIN_MS = 10 * SECOND;
const ACK_WITHIN_MS = 10 * SECOND;
const CONNECT_WITHIN_MS = 15 * SECOND;

export class Gateway implements Tunnels {
  private readonly sessions = new Map<string, Session>();
  private readonly server: tls.Server;
  private readonly enrolment: http.Server;
  private readonly heartbeatMs: number;
  private ticker?: NodeJS.Timeout;
  /** Enrolments one at a time: a token is used once even when two agents present it together. */
  private enrolling: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: GatewayOptions) {
    this.heartbeatMs = o.heartbeatMs ?? 10 * SECOND;
    this.enrolment = http.createServer((req, res) => void this.enrol(req, res));
    this.server = tls.createServer({ cert: o.tls.cert, key: o.tls.key, ALPNProtocols: [TUNNEL_ALPN, 'http/1.1'], requestCert: true, rejectUnauthorized: false }, (socket) => {
      socket.on('error', () => undefined); // a dropped agent is seen by its session closing
      if (socket.alpnProtocol === TUNNEL_ALPN) void this.accept(socket);
      else this.enrolment.emit('connection', socket);
    });
    this.server.on('tlsClientError', (e) => o.log.debug({ err: messageOf(e) }, 'a TLS handshake on the connector gateway failed'));
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.ticker = setInterval(() => void this.tick(), this.heartbeatMs);
    this.ticker.unref();
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of [...this.sessions.values()]) s.h2.destroy();
    await Promise.all([...this.sessions.values()].map((s) => this.gone(s, 'the server stopped')));
    await closing;
  }

  // --- enrolment --------------------------------------------------------------------------------

  private async enrol(req: IncomingMessage, res: ServerResponse) {
    const answer = (status: number, body: EnrolAnswer | { error: string }) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== ENROL_PATH) return answer(404, { error: `the connector gateway answers only POST ${ENROL_PATH}` });
    let input: EnrolRequest;
    try {
      input = JSON.parse((await readCapped(req, 64 * 1024)).toString()) as EnrolRequest;
    } catch (e) {
      return answer(400, { error: `not an enrolment request: ${messageOf(e)}` });
    }
    const done = this.enrolling.then(() => this.enrolOne(input, req.socket.remoteAddress ?? 'unknown'));
    this.enrolling = done.catch(() => undefined);
    try {
      answer(200, await done);
    } catch (e) {
      const refused = e instanceof TokenError || e instanceof RouteError;
      if (!refused) this.o.log.error({ err: messageOf(e) }, 'an enrolment failed');
      answer(refused ? 403 : 500, { error: messageOf(e) });
    }
  }

  private async enrolOne(input: EnrolRequest, from: string): Promise<EnrolAnswer> {
    const { store, key, log } = this.o;
    const refuse = (message: string) => {
      log.warn({ from, hostname: String(input.hostname ?? '') }, `refused an agent's enrolment: ${message}`);
      return new TokenError(message);
    };
    const token = readToken(String(input.token ?? ''));
    if (token.pin !== this.o.tls.pin) throw refuse(`the token was made for another connector gateway (it pins CA key ${token.pin.slice(0, 16)}…, this gateway's is ${this.o.tls.pin.slice(0, 16)}…)`);
    const id = connectorId(token.tenant, token.connector);
    const what = `Connector/${token.connector} of tenant ${token.tenant}`;
    if (!(await store.getRecord(id))) throw refuse(`${what} does not exist (was it deleted?): its tokens are void`);
    const stored = await readSealed<StoredToken>(store, key, id, TOKEN);
    if (!stored || stored.sha256 !== secretSha256(token.secret)) throw refuse(`no enrolment token of ${what} matches this one (a newer token replaced it, or it belongs to another tenant)`);
    if (stored.usedAt) throw refuse(`this token of ${what} was used already, at ${stored.usedAt}: a token enrols one agent; make another with mdmops connector token Connector/${token.connector}`);
    if (Date.parse(stored.expiresAt) <= Date.now()) throw refuse(`this token of ${what} expired at ${stored.expiresAt}: make another with mdmops connector token Connector/${token.connector}`);
    let spki: Buffer;
    try {
      spki = requestPublicKey(pemBody(String(input.csr ?? '')));
    } catch (e) {
      throw refuse(messageOf(e));
    }
    const ca = await tenantConnectorCa(store, key, token.tenant);
    const der = await issueAgentCertificate(ca, token.tenant, token.connector, spki, this.o.agentCertificateDays ?? 30);
    // A new agent replaces the one before: only this certificate opens the tunnel from now on.
    await store.commit([
      sealedWrite(key, id, TOKEN, { ...stored, usedAt: new Date().toISOString() } satisfies StoredToken),
      sealedWrite(key, id, CERTIFICATES, [certificateSha256(new X509Certificate(der))]),
    ]);
    log.info({ tenant: token.tenant, connector: token.connector, hostname: String(input.hostname ?? ''), from }, `enrolled the agent of ${what}`);
    return { tenant: token.tenant, connector: token.connector, certificate: new X509Certificate(der).toString() };
  }

  // --- tunnels ----------------------------------------------------------------------------------

  /** Why this agent's certificate does not open a tunnel, if it does not. */
  private async refusal(cert: X509Certificate | undefined): Promise<{ id?: ResourceId; refused?: string }> {
    const agent = cert && agentOf(cert);
    if (!cert || !agent) return { refused: 'no connector agent certificate was presented: enrol first (mdmops connector agent --token-file)' };
    const id = connectorId(agent.tenant, agent.connector);
    const what = `Connector/${agent.connector} of tenant ${agent.tenant}`;
    const ca = await tenantCaCertificate(this.o.store, this.o.key, agent.tenant);
    if (!ca || !cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return { id, refused: `the certificate is not one of tenant ${agent.tenant}'s connector CA` };
    if (Date.parse(cert.validTo) <= Date.now()) return { id, refused: `the agent's certificate expired at ${new Date(cert.validTo).toISOString()}: enrol again with a new token` };
    if (!(await this.o.store.getRecord(id))) return { id, refused: `${what} does not exist any more: its agent's certificate is revoked` };
    const current = (await readSealed<string[]>(this.o.store, this.o.key, id, CERTIFICATES)) ?? [];
    if (!current.includes(certificateSha256(cert))) return { id, refused: `this certificate of ${what} is revoked (another agent enrolled since)` };
    return { id };
  }

  private async accept(socket: TLSSocket) {
    const h2 = http2.connect('http://connector-agent', { createConnection: () => socket, settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: FRAME_SIZE } });
    h2.on('error', () => undefined);
    h2.once('connect', () => h2.setLocalWindowSize(CONNECTION_WINDOW));
    const { id, refused } = await this.refusal(socket.getPeerX509Certificate()).catch((e: unknown) => ({ id: undefined, refused: `the gateway could not check the certificate: ${messageOf(e)}` }));
    if (refused || !id) {
      this.o.log.warn({ from: socket.remoteAddress, connector: id && idKey(id) }, `refused a connector agent: ${refused}`);
      // Said to the agent on the stream it waits for, then hung up.
      const told = h2.request({ ':method': 'POST', ':path': CONTROL_PATH, [REFUSAL_HEADER]: encodeURIComponent(refused ?? 'refused') }, { endStream: true });
      told.on('error', () => undefined);
      told.on('close', () => h2.close());
      setTimeout(() => h2.destroy(), 5 * SECOND).unref();
      return;
    }
    const control = h2.request({ ':method': 'POST', ':path': CONTROL_PATH }, { endStream: false });
    control.on('error', () => undefined);
    const session: Session = { id, h2, control, presence: { connected: true, heartbeatMs: this.heartbeatMs }, lastBeat: Date.now(), lastWritten: 0, seq: 0, acks: new Map(), destinations: new Set(), opening: new Map(), pushing: Promise.resolve(), settingsAt: 0 };
    const hello = setTimeout(() => h2.destroy(), HELLO_WITHIN_MS);
    h2.on('close', () => void this.gone(session, 'the connection closed'));
    try {
      for await (const m of jsonLines<AgentMessage>(control)) {
        if (m.type === 'hello') {
          clearTimeout(hello);
          await this.welcome(session, m, socket);
        } else if (this.sessions.get(idKey(id)) === session) await this.onMessage(session, m);
      }
    } catch (e) {
      this.o.log.debug({ connector: idKey(id) }, `the control stream of ${show(id)}'s agent ended: ${messageOf(e)}`);
    }
    h2.destroy();
  }

  private async welcome(session: Session, hello: Extract<AgentMessage, { type: 'hello' }>, socket: TLSSocket) {
    const key = idKey(session.id);
    this.sessions.get(key)?.h2.destroy(); // the same agent again, or one that replaced it
    this.sessions.set(key, session);
    const now = new Date().toISOString();
    session.presence = {
      connected: true,
      hostname: String(hello.hostname).slice(0, 253),
      version: String(hello.version).slice(0, 64),
      serverVersion: this.o.version,
      connectedAt: now,
      lastHeartbeat: now,
      heartbeatMs: this.heartbeatMs,
      certificateNotAfter: hello.certificateNotAfter,
      ...(hello.lastError ? { lastError: String(hello.lastError).slice(0, 1000) } : {}),
    };
    this.o.log.info({ connector: key, hostname: session.presence.hostname, version: session.presence.version, from: socket.remoteAddress }, `the agent of ${show(session.id)} connected`);
    await this.writePresence(session);
    // Not awaited: its acknowledgement arrives on the stream this session's loop reads.
    void this.pushSettings(session).catch((e: unknown) => this.o.log.warn({ connector: key }, `could not give ${show(session.id)}'s agent its settings: ${messageOf(e)}`));
  }

  private async onMessage(session: Session, m: AgentMessage) {
    switch (m.type) {
      case 'heartbeat': {
        session.lastBeat = Date.now();
        const level = { logLevel: m.logLevel, logLevelRevertsAt: m.logLevelRevertsAt };
        const changed = level.logLevel !== session.presence.logLevel || level.logLevelRevertsAt !== session.presence.logLevelRevertsAt;
        session.presence = { ...session.presence, ...level, lastHeartbeat: new Date().toISOString() };
        if (changed || session.lastBeat - session.lastWritten >= PRESENCE_EVERY_MS) await this.writePresence(session);
        return;
      }
      case 'ack': {
        const waiting = session.acks.get(m.seq);
        session.acks.delete(m.seq);
        if (m.error) waiting?.reject(new Error(m.error));
        else waiting?.resolve();
        return;
      }
      case 'renew':
        return this.renew(session, m.csr);
      case 'logs': {
        const logs = session.presence.logs;
        if (logs?.id !== m.id) return;
        session.presence = { ...session.presence, logs: { ...logs, state: m.state, ...(m.name ? { name: m.name, size: m.size } : {}), ...(m.error ? { error: m.error } : {}) } };
        this.o.log.info({ connector: idKey(session.id), state: m.state, file: m.name }, `the log collection of ${show(session.id)}'s agent: ${m.state}`);
        return this.writePresence(session);
      }
      default:
        this.o.log.debug({ connector: idKey(session.id), type: (m as { type: string }).type }, 'an agent message this gateway does not know');
    }
  }

  /** A new certificate for the agent's new key, before its current one ends; both open the tunnel until it reconnects. */
  private async renew(session: Session, csr: string) {
    const { store, key } = this.o;
    const seq = ++session.seq;
    try {
      const spki = requestPublicKey(pemBody(csr));
      const ca = await tenantConnectorCa(store, key, session.id.tenant);
      const der = await issueAgentCertificate(ca, session.id.tenant, session.id.name, spki, this.o.agentCertificateDays ?? 30);
      const current = (await readSealed<string[]>(store, key, session.id, CERTIFICATES)) ?? [];
      await store.commit([sealedWrite(key, session.id, CERTIFICATES, [certificateSha256(new X509Certificate(der)), ...current].slice(0, 2))]);
      this.o.log.info({ connector: idKey(session.id) }, `renewed the certificate of ${show(session.id)}'s agent`);
      this.send(session, { type: 'certificate', seq, certificate: new X509Certificate(der).toString() });
    } catch (e) {
      this.send(session, { type: 'certificate', seq, error: messageOf(e) });
    }
  }

  private send(session: Session, m: GatewayMessage) {
    session.control.write(line(m));
  }

  private request(session: Session, m: GatewayMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.acks.delete(m.seq);
        reject(new Error(`the agent did not answer within ${ACK_WITHIN_MS / SECOND} s`));
      }, ACK_WITHIN_MS);
      session.acks.set(m.seq, {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.send(session, m);
    });
  }

  /** What the agent is to do, from the Connector and the resources that name it (and `opening`, destinations being reconciled now). */
  private async settingsOf(id: ResourceId, record: StoredRecord, opening: Iterable<string>): Promise<Omit<Settings, 'seq'>> {
    const destinations = new Set(opening);
    for (const r of await this.o.store.listRecords({ tenant: id.tenant })) {
      for (const route of this.o.providers.get(r.kind).routes?.(r.spec) ?? []) {
        const destination = route.connector === id.name && (await this.destinationOf(id.tenant, route));
        if (destination) destinations.add(destination);
      }
    }
    return { type: 'settings', destinations: [...destinations].sort(), ...(await this.ownSettings(id, record)) };
  }

  /** host:port of a route, its URL read from its secret if need be; undefined when it names none (a missing secret, a file). */
  private async destinationOf(tenant: string, route: ConnectorRoute): Promise<string | undefined> {
    const url = 'url' in route ? route.url : await this.o.secrets.resolve(tenant, route.urlSecretRef);
    if (!url) return undefined;
    try {
      const { host, port } = hostPort(url);
      return destinationOf(host, port);
    } catch {
      return undefined; // no host and port in it: nothing to dial
    }
  }

  /** What the Connector itself says to its agent (cheap: looked at every heartbeat). */
  private async ownSettings(id: ResourceId, record: StoredRecord): Promise<Omit<Settings, 'type' | 'seq' | 'destinations'>> {
    const since = record.spec.logLevelSince ?? record.status.logLevelSince;
    const spec = record.spec as { enabled?: boolean; logLevel?: Settings['logLevel']; httpProxy?: { url: string; noProxy?: string[]; credentialsSecretRef?: { name: string; key: string } } };
    let proxy: ProxySetting | undefined;
    if (spec.httpProxy) {
      proxy = { url: spec.httpProxy.url, ...(spec.httpProxy.noProxy ? { noProxy: spec.httpProxy.noProxy } : {}) };
      const ref = spec.httpProxy.credentialsSecretRef;
      const credentials = ref && (await this.o.secrets.resolve(id.tenant, ref));
      if (credentials) {
        const at = credentials.indexOf(':');
        proxy = { ...proxy, username: credentials.slice(0, at < 0 ? undefined : at), password: at < 0 ? '' : credentials.slice(at + 1).trim() };
      }
    }
    return {
      enabled: spec.enabled !== false,
      logLevel: spec.logLevel ?? 'Info',
      ...(typeof since === 'string' ? { logLevelSince: since } : {}),
      heartbeatMs: this.heartbeatMs,
      ...(proxy ? { proxy } : {}),
    };
  }

  /** Gives the agent its settings when they changed, and waits until it has them. */
  private pushSettings(session: Session): Promise<void> {
    const push = async () => {
      const record = await this.o.store.getRecord(session.id);
      if (!record) return void session.h2.destroy(); // deleted: its certificate is void
      session.settingsAt = Date.now();
      const settings = await this.settingsOf(session.id, record, session.opening.keys());
      session.settingsFrom = JSON.stringify(await this.ownSettings(session.id, record));
      const text = JSON.stringify(settings);
      if (text === session.settings) return;
      await this.request(session, { ...settings, seq: ++session.seq });
      session.settings = text;
      session.destinations = new Set(settings.destinations);
    };
    const done = session.pushing.then(push);
    session.pushing = done.catch(() => undefined);
    return done;
  }

  /** The Connector changed in the store (mdmops connector log-level): its agent gets its settings now, not at the next heartbeat. False when no agent is connected. */
  async settingsChanged(tenant: string, name: string): Promise<boolean> {
    const session = this.sessions.get(idKey(connectorId(tenant, name)));
    if (!session) return false;
    await this.pushSettings(session);
    return true;
  }

  async dial(r: RouteRequest): Promise<Duplex> {
    const id = connectorId(r.tenant, r.connector);
    const destination = destinationOf(r.host, r.port);
    const record = await this.o.store.getRecord(id);
    if (!record) throw new RouteError(`${show(id)} does not exist`);
    if (record.spec.enabled === false) throw new RouteError(`${show(id)} is disabled (enabled: false): it carries no traffic`);
    let named = false;
    for (const route of this.o.providers.get(r.resource.kind).routes?.(r.resource.spec) ?? []) {
      if (route.connector === r.connector && (await this.destinationOf(r.tenant, route)) === destination) named = true;
    }
    if (!named) {
      this.o.log.warn({ connector: idKey(id), destination, resource: `${r.resource.kind}/${r.resource.name}` }, `refused a connection to ${destination}: no resource names it through ${show(id)}`);
      throw new RouteError(`${r.resource.kind}/${r.resource.name} does not name ${destination} through ${show(id)}: refused`);
    }
    const session = this.sessions.get(idKey(id));
    if (!session) {
      const seen = await readSealed<Presence>(this.o.store, this.o.key, id, PRESENCE);
      throw new RouteError(`${show(id)} has no agent connected${seen?.lastHeartbeat ? ` (last heard from at ${seen.lastHeartbeat})` : ' (none has connected yet)'}: start it (mdmops connector agent) or read its log`);
    }
    session.opening.set(destination, (session.opening.get(destination) ?? 0) + 1);
    try {
      // The agent must have what the store says now: a destination just named, or a Connector just
      // enabled again (until the next heartbeat its agent would still refuse, as disabled).
      const own = JSON.stringify(await this.ownSettings(id, record));
      if (!session.destinations.has(destination) || own !== session.settingsFrom) await this.pushSettings(session);
      return await this.open(session, destination);
    } finally {
      const left = session.opening.get(destination)! - 1;
      if (left) session.opening.set(destination, left);
      else session.opening.delete(destination);
    }
  }

  private open(session: Session, destination: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const stream = session.h2.request({ ':method': 'CONNECT', ':authority': destination });
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new RouteError(`the agent of ${show(session.id)} did not reach ${destination} within ${CONNECT_WITHIN_MS / SECOND} s`));
      }, CONNECT_WITHIN_MS);
      stream.once('response', (headers) => {
        clearTimeout(timer);
        if (headers[':status'] === 200) return resolve(stream);
        const why = decodeURIComponent(String(headers[REFUSAL_HEADER] ?? `status ${headers[':status']}`));
        stream.destroy();
        reject(new RouteError(`the agent of ${show(session.id)} could not reach ${destination}: ${why}`));
      });
      stream.once('error', (e) => {
        clearTimeout(timer);
        reject(new RouteError(`the tunnel of ${show(session.id)} failed: ${messageOf(e)}`));
      });
    });
  }

  // --- log collection (seed 000): the agent zips its log folder, the gateway fetches the zip -------

  private live(tenant: string, name: string): Session {
    const id = connectorId(tenant, name);
    const session = this.sessions.get(idKey(id));
    if (!session) throw new RouteError(`${show(id)} has no agent connected: its logs can be collected once it is`);
    return session;
  }

  /** Asks the agent to collect its logs; a request replaces the one before. */
  async requestLogs(tenant: string, name: string): Promise<LogCollection> {
    const session = this.live(tenant, name);
    const logs: LogCollection = { id: randomUUID(), state: 'collecting', requestedAt: new Date().toISOString() };
    session.presence = { ...session.presence, logs };
    await this.request(session, { type: 'collect-logs', seq: ++session.seq, id: logs.id });
    await this.writePresence(session);
    return logs;
  }

  async cancelLogs(tenant: string, name: string): Promise<LogCollection | undefined> {
    const session = this.live(tenant, name);
    if (session.presence.logs?.state === 'collecting') await this.request(session, { type: 'cancel-logs', seq: ++session.seq });
    return session.presence.logs;
  }

  logs(tenant: string, name: string): LogCollection | undefined {
    return this.live(tenant, name).presence.logs;
  }

  /** The last zip, as the agent sends it. */
  downloadLogs(tenant: string, name: string): Promise<{ name: string; stream: Duplex }> {
    const session = this.live(tenant, name);
    const logs = session.presence.logs;
    if (logs?.state !== 'ready' || !logs.name) throw new RouteError(`${show(session.id)}'s agent has no collected logs${logs ? ` (the last request is ${logs.state})` : ''}: request them first (mdmops connector logs ${show(session.id).split(' ')[0]} --request)`);
    return new Promise((resolve, reject) => {
      const stream = session.h2.request({ ':method': 'GET', ':path': LOGS_PATH + encodeURIComponent(logs.name!) });
      stream.once('response', (headers) => {
        if (headers[':status'] === 200) return resolve({ name: logs.name!, stream });
        stream.destroy();
        reject(new RouteError(`the agent of ${show(session.id)} no longer has ${logs.name} (status ${headers[':status']})`));
      });
      stream.once('error', (e) => reject(new RouteError(`the tunnel of ${show(session.id)} failed: ${messageOf(e)}`)));
    });
  }

  // --- presence ---------------------------------------------------------------------------------

  private async writePresence(session: Session) {
    session.lastWritten = Date.now();
    try {
      await this.o.store.commit([sealedWrite(this.o.key, session.id, PRESENCE, session.presence)]);
      this.o.onChange?.(session.id);
    } catch (e) {
      this.o.log.warn({ connector: idKey(session.id) }, `could not record ${show(session.id)}'s agent in the store: ${messageOf(e)}`);
    }
  }

  private async gone(session: Session, why: string) {
    const key = idKey(session.id);
    if (this.sessions.get(key) !== session) return;
    this.sessions.delete(key);
    for (const waiting of session.acks.values()) waiting.reject(new Error(`the agent went away: ${why}`));
    this.o.log.warn({ connector: key, hostname: session.presence.hostname }, `the agent of ${show(session.id)} is gone: ${why}`);
    session.presence = { ...session.presence, connected: false };
    // A deleted Connector keeps no presence.
    if (await this.o.store.getRecord(session.id)) await this.writePresence(session);
  }

  /**
   * Agents silent for three heartbeats are let go; the others get their settings again if they
   * changed: at once when the Connector's spec did (its log level, say), else every PRESENCE_EVERY_MS
   * (the destinations come from all the tenant's records). An answered PING counts as a sign of life
   * too: it is not held up behind busy streams.
   */
  private async tick() {
    for (const session of [...this.sessions.values()]) {
      session.h2.ping((e) => {
        if (!e) session.lastBeat = Date.now();
      });
      if (Date.now() - session.lastBeat > 3 * this.heartbeatMs) {
        session.h2.destroy();
        await this.gone(session, `no heartbeat for ${Math.round((Date.now() - session.lastBeat) / SECOND)} s`);
        continue;
      }
      const record = await this.o.store.getRecord(session.id);
      const own = record && JSON.stringify(await this.ownSettings(session.id, record));
      if (own === session.settingsFrom && Date.now() - session.settingsAt < PRESENCE_EVERY_MS) continue;
      await this.pushSettings(session).catch((e: unknown) => this.o.log.warn({ connector: idKey(session.id) }, `could not give ${show(session.id)}'s agent its settings: ${messageOf(e)}`));
    }
  }
}

const show = (id: ResourceId) => `Connector/${id.name}${id.tenant === 'default' ? '' : ` of tenant ${id.tenant}`}`;

function pemBody(pem: string): Buffer {
  const m = /-----BEGIN [A-Z ]+-----([^-]+)-----END [A-Z ]+-----/.exec(pem);
  if (!m) throw new TokenError('the certificate request is not PEM');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}
