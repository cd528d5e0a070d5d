// What an error says, whatever was thrown.
export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));
