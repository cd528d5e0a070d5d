import type { DirectoryUser } from '../../api/index.js';
// Which users a configuration reaches: its distribution, within its space or across spaces. Pure.

export interface Selector {
  groups?: string[];
  matchLabels?: Record<string, string>;
}

export interface SpaceMembers {
  name: string;
  priority: number;
  members: Selector;
}

export interface Distribution {
  enabled: boolean;
  spaceRef?: { name: string };
  distribution: { devices: 'AllDevices' | 'NoDevices' | 'Custom'; selector?: Selector; otherSpaces: 'DoNotApply' | 'ApplyToDevicesInOtherSpaces' };
}

/** A user is selected by any of the groups (by name, or by id where the source has ids), or by all of the labels. */
export function selects(selector: Selector, user: DirectoryUser): boolean {
  if (selector.groups?.some((g) => user.groups.includes(g) || user.groupIds?.includes(g))) return true;
  const labels = Object.entries(selector.matchLabels ?? {});
  return labels.length > 0 && labels.every(([k, v]) => user.labels[k] === v);
}

/** The space a user's devices belong to: the matching space of lowest priority number, else the default space. */
export function spaceOf(user: DirectoryUser, spaces: SpaceMembers[]): string | undefined {
  let found: SpaceMembers | undefined;
  for (const s of spaces) if ((!found || s.priority < found.priority) && selects(s.members, user)) found = s;
  return found?.name;
}

export function reachedUsers(config: Distribution, users: DirectoryUser[], spaces: SpaceMembers[]): DirectoryUser[] {
  const d = config.distribution;
  if (!config.enabled || d.devices === 'NoDevices') return [];
  const home = config.spaceRef?.name;
  return users.filter(
    (u) => (d.devices === 'AllDevices' || selects(d.selector ?? {}, u)) && (d.otherSpaces === 'ApplyToDevicesInOtherSpaces' || spaceOf(u, spaces) === home),
  );
}

/**
 * Group names among `names` that more than one group of the users bears (Entra ID keys groups by
 * id; names are not unique): a selector naming one selects the members of each. Pure.
 */
export function ambiguousGroups(names: string[], users: DirectoryUser[]): string[] {
  const wanted = new Set(names);
  if (!wanted.size) return [];
  const ids = new Map<string, Set<string>>();
  for (const u of users) {
    if (!u.groupIds) continue;
    u.groups.forEach((name, i) => {
      if (!wanted.has(name)) return;
      const set = ids.get(name) ?? ids.set(name, new Set()).get(name)!;
      set.add(`${u.source} ${u.groupIds![i]}`);
    });
  }
  return [...ids].filter(([, set]) => set.size > 1).map(([name, set]) => {
    const groups = [...set].sort().map((g) => g.replace(' ', ' group '));
    return `group "${name}" names ${set.size} groups (${groups.join(', ')}): the members of each are selected; name one by its id`;
  });
}
