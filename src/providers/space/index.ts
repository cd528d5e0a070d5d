// Space: a record only; its devices and admins live in the MDM service.
import { Space } from '../../api/index.js';
import { recordProvider } from '../record.js';

export const spaceProvider = recordProvider(Space);
