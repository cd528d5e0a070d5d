// Kubernetes Events (core/v1) about a custom resource: what kubectl describe shows. Each is a new
// Event; they are made only when something new happened (a notification raised or changed, a
// resource refused), never on a resync that finds everything as it was.
import type { Logger } from '../observe/log.js';
import type { KubeClient, KubeObject } from './client.js';
import { messageOf } from '../util/message-of.js';

const MAX_MESSAGE = 1024;

export class EventRecorder {
  constructor(
    private readonly client: KubeClient,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  async record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${obj.metadata.name}.`, namespace },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
      type,
      reason,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
      source: { component: 'mdmops-controller' },
      reportingComponent: 'mdmops.io/controller',
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, body);
    } catch (e) {
      // An Event is a courtesy: failing to make one never fails a reconcile.
      this.log.warn({ resource: `${obj.kind}/${namespace}/${obj.metadata.name}`, reason, err: messageOf(e) }, 'could not record an Event');
    }
  }
}
