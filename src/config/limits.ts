// Bounds on input, so hostile files are refused quickly instead of exhausting memory or the stack.
export interface Limits {
  maxFileBytes: number;
  maxDocumentBytes: number;
  maxDepth: number;
  maxAliasCount: number;
  maxDocumentsPerFile: number;
  /** All files together: what is read is held with every node's position (about 100 bytes of memory a byte). */
  maxTotalBytes: number;
  /** All resources together: about 17 MB of memory each 1,000 while validating (measured, 10,000 to 40,000 Spaces). */
  maxTotalResources: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxFileBytes: 4 * 1024 * 1024,
  maxDocumentBytes: 1024 * 1024,
  maxDepth: 64,
  maxAliasCount: 100,
  maxDocumentsPerFile: 10_000,
  maxTotalBytes: 16 * 1024 * 1024,
  maxTotalResources: 50_000,
};
