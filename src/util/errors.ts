// Two kinds of failure a reconcile may end in, besides the unexpected ones. An expected failure (a
// server that refuses, a credential that is wrong) is said as a condition reason and a notification,
// without a stack trace. A terminal one cannot get better by trying again until the input changes
// (controller-runtime's TerminalError): the controller does not requeue it with backoff.

/** A failure that belongs to normal operation: `reason` goes on the resource's condition. */
export class ExpectedError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ExpectedError';
  }
}

/** A failure that retrying cannot fix: the resource waits for its spec (or what it names) to change. */
export class TerminalError extends ExpectedError {
  constructor(reason: string, message: string) {
    super(reason, message);
    this.name = 'TerminalError';
  }
}

export const isTerminal = (e: unknown): e is TerminalError => e instanceof TerminalError;
