// Space: a record only; its devices and admins live in the MDM service.
import { Space } from '../../api/index.js';
import { defineProvider } from '../record.js';

export const spaceProvider = defineProvider(Space);
