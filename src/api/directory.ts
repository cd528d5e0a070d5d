// What the tenant holds of its users and of the certificates issued to them, as every layer sees
// it: directory libraries produce users, providers decide on certificate facts, the store keeps both.

/** A user synced from an identity source. */
export interface DirectoryUser {
  tenant: string;
  /** Unique in the tenant: the source's immutable id. */
  id: string;
  /** Kind/name of the identity source. */
  source: string;
  upn: string;
  email?: string;
  displayName?: string;
  /** Given name and surname, as the source holds them. */
  firstName?: string;
  lastName?: string;
  /** Names of the user's groups (two groups may have the same name). */
  groups: string[];
  /** The source's ids of the same groups, side by side with `groups`, where the source has ids (Entra ID). */
  groupIds?: string[];
  /** Custom attributes: one value or several. */
  attributes: Record<string, string | string[]>;
  /** Labels of the user's devices, as distribution selectors match them. */
  labels: Record<string, string>;
  /** The managed Apple ID the source built for the user (managedAppleIds). */
  appleId?: string;
}

/** A user's own fields, without its groups and labels: what a walk over every user of a source reads. */
export type UserFields = Pick<DirectoryUser, 'tenant' | 'id' | 'source' | 'upn' | 'email' | 'displayName' | 'firstName' | 'lastName' | 'attributes'>;

/**
 * One value of a user, as the store reads it for every user of a source at once: one of its own
 * fields, or a custom attribute (its first value when it holds several).
 */
export type UserValue = { field: 'id' | 'upn' | 'email' | 'displayName' | 'firstName' | 'lastName' } | { attribute: string };

/** An issued certificate as far as deciding what to do needs it: without its material. */
export interface CertificateFacts {
  tenant: string;
  configuration: string;
  userId: string;
  serial: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
  /** Digest of what was asked for (expanded subject, names, usages, key, validity): a change re-issues. */
  contentHash: string;
  /** The CA key that signed it (or the CA certificate of a server CA): a new CA re-issues. */
  issuerKey: string;
  issuedAt: string;
}
