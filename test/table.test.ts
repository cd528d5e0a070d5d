// mdmops users and status print names from directories in any script: columns line up on a terminal.
import { describe, expect, it } from 'vitest';
import { displayWidth, table } from '../src/cli/table.js';

describe('table', () => {
  it('pads each cell by the columns a terminal gives it: two for CJK, none for a combining accent', () => {
    const out = table(['NAME', 'SOURCE'], [['王明', 'LdapSource/a'], ['Zoë Åkesson', 'LdapSource/b'], ['Chloe\u0301 Dupre\u0301', 'LdapSource/c']]);
    const lines = out.trimEnd().split('\n');
    const at = lines.map((l) => displayWidth(l.slice(0, l.indexOf(l.includes('LdapSource') ? 'LdapSource' : 'SOURCE'))));
    expect(new Set(at).size, out).toBe(1);
    expect(at[0]).toBe(displayWidth('Zoë Åkesson') + 2);
  });

  it('counts a wide character as two columns and a combining mark as none', () => {
    expect(displayWidth('王明')).toBe(4);
    expect(displayWidth('Chloe\u0301')).toBe(5);
    expect(displayWidth('Łukasz Żółć')).toBe(11);
  });
});
