// Bounds on input, so hostile files are refused quickly instead of exhausting memory or the stack.
export interface Limits {
  maxFileBytes: number;
  maxDocumentBytes: number;
  maxDepth: number;
  maxAliasCount: number;
  maxDocumentsPerFile: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxFileBytes: 4 * 1024 * 1024,
  maxDocumentBytes: 1024 * 1024,
  maxDepth: 64,
  maxAliasCount: 100,
  maxDocumentsPerFile: 10_000,
};
