import { InvalidArgumentError } from '../errors.js';

export const DEFAULT_ZK_CONNECT = '127.0.0.1:2181';

/** Validates `host:port[,host:port…][/chroot]`; returns it unchanged or throws InvalidArgumentError. */
export function parseConnectString(s: string): { hosts: { host: string; port: number }[]; chroot: string | undefined } {
  if (typeof s !== 'string' || s.trim() === '') throw InvalidArgumentError.format('--zk', 'is empty');
  const slash = s.indexOf('/');
  const hostPart = slash === -1 ? s : s.slice(0, slash);
  const chroot = slash === -1 ? undefined : s.slice(slash);
  if (chroot !== undefined && !/^(\/[^/\s]+)+$/.test(chroot)) throw InvalidArgumentError.format('--zk', `has a bad chroot ${JSON.stringify(chroot)}`);
  const hosts = hostPart.split(',').map((h) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(h);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw InvalidArgumentError.format('--zk', `must be host:port[,host:port...], got ${JSON.stringify(s)}`);
    }
    return { host: m[1]!, port };
  });
  return { hosts, chroot };
}
