// A PostgreSQL URL as messages may show it; apart from postgres.ts, so that naming a store does
// not load the PostgreSQL client.

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…'; // unreadable: shown as nothing that could hold a password
  }
}
