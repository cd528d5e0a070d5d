// node-forge, loaded on its first use: SCEP, PKCS#12 and two certificate checks need it, not every
// command's start (its modules were a tenth of what `mdmops sync` loads before it begins).
import type Forge from 'node-forge';
import { lazyRequire } from '../util/lazy-require.js';

export const forge = lazyRequire<typeof Forge>('node-forge');
