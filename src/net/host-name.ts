// This host's fully qualified name, as `hostname -f` finds it: the host name when it holds a dot,
// otherwise the canonical name of its address (the first name of its /etc/hosts line, or its DNS
// PTR record). Node has no getaddrinfo(AI_CANONNAME), so the address is looked up, then named.
import { lookup, lookupService } from 'node:dns/promises';
import { hostname } from 'node:os';

let found: Promise<string> | undefined;

export function fullyQualifiedHostName(): Promise<string> {
  return (found ??= (async () => {
    const short = hostname();
    if (short.includes('.')) return short;
    try {
      const { address } = await lookup(short);
      const { hostname: canonical } = await lookupService(address, 0);
      // Another name of the same address ("localhost") is not this host's.
      if (canonical.toLowerCase().startsWith(`${short.toLowerCase()}.`)) return canonical;
    } catch {
      // the name service does not know the host: its short name is all there is
    }
    return short;
  })());
}
