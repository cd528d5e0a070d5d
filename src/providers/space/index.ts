// Space: a record only; its devices and admins live in the MDM service.
import { recordProvider } from '../record.js';

export const spaceProvider = recordProvider({ kind: 'Space' });
