// Errors meant for the user: printed as one line, never with a stack trace.
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}
