// node-forge, loaded on its first use: SCEP, PKCS#12 and two certificate checks need it, not every
// command's start (its modules were a tenth of what `mdmops sync` loads before it begins).
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

let loaded: typeof Forge | undefined;

export const forge = (): typeof Forge => (loaded ??= createRequire(import.meta.url)('node-forge') as typeof Forge);
