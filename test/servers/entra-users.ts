// What the Entra emulator knows about users and groups: the properties Graph v1.0 accepts in $select,
// the ones it returns without $select, and a deterministic generator of users. Node built-ins only: this
// module runs in the emulator's own process (see entra.ts) as well as in tests.

/** Selectable properties of microsoft.graph.user (v1.0), as Graph spells them. */
export const USER_PROPERTIES = [
  'id', 'accountEnabled', 'ageGroup', 'businessPhones', 'city', 'companyName', 'country', 'createdDateTime',
  'creationType', 'deletedDateTime', 'department', 'displayName', 'employeeHireDate', 'employeeId', 'employeeType',
  'externalUserState', 'faxNumber', 'givenName', 'identities', 'imAddresses', 'isResourceAccount', 'jobTitle',
  'legalAgeGroupClassification', 'mail', 'mailNickname', 'manager', 'mobilePhone', 'officeLocation',
  'onPremisesDistinguishedName', 'onPremisesDomainName', 'onPremisesExtensionAttributes', 'onPremisesImmutableId',
  'onPremisesLastSyncDateTime', 'onPremisesSamAccountName', 'onPremisesSecurityIdentifier', 'onPremisesSyncEnabled',
  'onPremisesUserPrincipalName', 'otherMails', 'postalCode', 'preferredDataLocation', 'preferredLanguage',
  'proxyAddresses', 'showInAddressList', 'state', 'streetAddress', 'surname', 'usageLocation', 'userPrincipalName',
  'userType',
] as const;

/** What /users/delta returns without $select (Graph's default user properties). */
export const DEFAULT_USER_SELECT = [
  'businessPhones', 'displayName', 'givenName', 'jobTitle', 'mail', 'mobilePhone', 'officeLocation',
  'preferredLanguage', 'surname', 'userPrincipalName',
];

/** Selectable properties of microsoft.graph.group (v1.0); members is the navigation property delta tracks. */
export const GROUP_PROPERTIES = [
  'id', 'classification', 'createdDateTime', 'deletedDateTime', 'description', 'displayName', 'expirationDateTime',
  'groupTypes', 'isAssignableToRole', 'mail', 'mailEnabled', 'mailNickname', 'membershipRule',
  'membershipRuleProcessingState', 'onPremisesDomainName', 'onPremisesLastSyncDateTime', 'onPremisesNetBiosName',
  'onPremisesSamAccountName', 'onPremisesSecurityIdentifier', 'onPremisesSyncEnabled', 'preferredDataLocation',
  'preferredLanguage', 'proxyAddresses', 'renewedDateTime', 'securityEnabled', 'securityIdentifier', 'theme',
  'visibility', 'members',
] as const;

export const DEFAULT_GROUP_SELECT = ['displayName', 'description', 'mail', 'mailEnabled', 'mailNickname', 'securityEnabled', 'groupTypes', 'members'];

export const EXTENSION_ATTRIBUTES = Array.from({ length: 15 }, (_, i) => `extensionAttribute${i + 1}`);

/** A directory extension property's name: extension_{appId without dashes}_{name}. */
export const directoryExtension = (appId: string, name: string) => `extension_${appId.replace(/-/g, '')}_${name}`;

export interface GeneratorContext {
  /** The tenant's verified domain: UPNs and mail addresses are in it. */
  domain: string;
  /** The app that owns the directory extension properties. */
  extensionAppId: string;
  /** 20 hex digits shared by generated ids (see generatedUserId). */
  idPrefix: string;
}

const GIVEN = ['Zoë', 'José', 'Åsa', 'Łukasz', 'Chloé', 'Søren', 'Ngozi', 'Hiroshi', 'Mei', 'Ayşe', 'Émile', 'Björn', 'María', 'Anna', 'John', 'Priya', 'Oğuz', 'Inês', 'Dmitri', 'Fatima'];
const SURNAMES = ['Müller', 'García', 'Østergaard', 'Nowak', "O'Brien", 'Smith', '王', 'Yılmaz', 'Dubois', 'Kowalczyk', 'Tanaka', 'Ndiaye', 'Jensen', 'Ruiz', 'Петров', 'Nguyễn', 'Schmidt', 'Rossi', 'Kim', 'Björk'];
const DEPARTMENTS = ['Engineering', 'Sales', 'Finance', 'Support', 'R&D', 'Ventes et Marché'];
const JOBS = ['Engineer', 'Account Manager', 'Analyst', 'Technician', 'Directeur général'];

/**
 * Generated users are numbered by their position in the directory; the id carries the position in
 * the 8 hex digits after its last dash, so 100,000 of them need no id index. The position is
 * scrambled (invertibly, in 32 bits): Entra ID's object ids are random GUIDs, and a client must not
 * find them in the order it reads them.
 */
const SCRAMBLE = 0x9e3779b1; // odd: invertible modulo 2^32
const UNSCRAMBLE = inverse(SCRAMBLE);
const MASK = 0x5d1f3a27;

function inverse(a: number): number {
  // Newton's iteration for the inverse of an odd number modulo 2^32: each step doubles the bits that hold.
  let x = a;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x));
  return x;
}

/** An invertible mix of 32 bits: xor with a mask, multiply by an odd number, fold the high half in. */
const scramble = (n: number) => {
  const x = Math.imul(n ^ MASK, SCRAMBLE);
  return (x ^ (x >>> 16)) >>> 0;
};
const unscramble = (n: number) => (Math.imul(n ^ (n >>> 16), UNSCRAMBLE) ^ MASK) >>> 0;

export function generatedUserId(idPrefix: string, position: number): string {
  const p = idPrefix;
  return `${p.slice(0, 8)}-${p.slice(8, 12)}-4${p.slice(12, 15)}-8${p.slice(15, 18)}-${scramble(position).toString(16).padStart(8, '0')}${p.slice(16, 20)}`;
}

export function generatedPosition(idPrefix: string, id: string): number | undefined {
  const zero = generatedUserId(idPrefix, 0);
  if (id.length !== 36 || zero.slice(0, 24) !== id.slice(0, 24) || zero.slice(32) !== id.slice(32) || !/^[0-9a-f]{8}$/.test(id.slice(24, 32))) return undefined;
  return unscramble(Number.parseInt(id.slice(24, 32), 16));
}

/** The given names as mail local parts take them: ASCII letters only ('Zoë' → 'zoe', '王' → 'user'). */
const MAIL_NAMES = GIVEN.map((g) => g.normalize('NFD').replace(/[^A-Za-z0-9]/g, '').toLowerCase() || 'user');

/**
 * The user at a position, as the generator makes it: names cycle through non-ASCII ones; some
 * attributes are missing on a fixed pattern, so a test can count who lacks what:
 * - mail: missing when position % 10 === 9, but for guests and rooms (mail differs from the UPN otherwise)
 * - department: missing when position % 7 === 6
 * - employeeId: missing when position % 13 === 12
 * - onPremisesExtensionAttributes.extensionAttribute1 (a cost centre): missing when position % 11 === 10
 * - extension_{extensionAppId}_badgeId: missing when position % 9 === 8
 * - accountEnabled: false when position % 50 === 49
 * and some are not the tenant's own people, as in real tenants:
 * - a guest when position % 40 === 39: userType Guest, creationType Invitation, its mail at another
 *   domain and a UPN made from it with #EXT# (https://learn.microsoft.com/en-us/entra/external-id/user-properties)
 * - a room mailbox when position % 100 === 99: no given name or surname, and, as every resource
 *   mailbox's account, disabled (https://learn.microsoft.com/en-us/exchange/recipients-in-exchange-online/manage-resource-mailboxes)
 * Properties absent from the record were never set.
 */
export function generatedUser(ctx: GeneratorContext, position: number): Record<string, unknown> {
  const given = GIVEN[position % GIVEN.length]!;
  const surname = SURNAMES[Math.floor(position / GIVEN.length) % SURNAMES.length]!;
  const user: Record<string, unknown> = {
    id: generatedUserId(ctx.idPrefix, position),
    userPrincipalName: `u${position}@${ctx.domain}`,
    displayName: `${given} ${surname}`,
    givenName: given,
    surname,
    mailNickname: `u${position}`,
    jobTitle: JOBS[position % JOBS.length],
    accountEnabled: position % 50 !== 49,
    userType: 'Member',
    onPremisesExtensionAttributes: { extensionAttribute1: position % 11 === 10 ? null : `CC${1000 + (position % 97)}` },
  };
  if (position % 10 !== 9) user.mail = `${MAIL_NAMES[position % GIVEN.length]}.${position}@${ctx.domain}`;
  if (position % 7 !== 6) user.department = DEPARTMENTS[position % DEPARTMENTS.length];
  if (position % 13 !== 12) user.employeeId = String(100000 + position);
  if (position % 9 !== 8) user[directoryExtension(ctx.extensionAppId, 'badgeId')] = `B${position}`;
  if (position % 40 === 39 && position % 100 !== 99) {
    const mail = `${MAIL_NAMES[position % GIVEN.length]}.${position}@fabrikam.example`;
    Object.assign(user, { userType: 'Guest', creationType: 'Invitation', externalUserState: 'Accepted', mail, userPrincipalName: `${mail.replace('@', '_')}#EXT#@${ctx.domain}` });
  }
  if (position % 100 === 99) {
    Object.assign(user, { displayName: `Room ${position}`, mail: `room${position}@${ctx.domain}`, userPrincipalName: `room${position}@${ctx.domain}`, mailNickname: `room${position}`, accountEnabled: false });
    for (const name of ['givenName', 'surname', 'jobTitle', 'department', 'employeeId']) delete user[name];
  }
  return user;
}
