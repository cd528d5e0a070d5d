#!/usr/bin/env node
// Stack traces name the TypeScript sources when asked for (see dist/cli in scripts/bundle.mjs).
if (process.env.MDMOPS_DEBUG) process.setSourceMapsEnabled(true);
await import('../dist/cli/main.js');
