import ZooKeeper from 'zookeeper';

/**
 * Expires `victim`'s session from the outside: a second client attaches with the same id and
 * password and closes. Racy (the victim can win the session back), hence the retries
 * (zookeeper-guide.md §8). Resolves with the victim's close code, normally -112.
 * `connect` must reach the server directly, not through a blackholed proxy.
 */
export async function expireSession(victim: ZooKeeper, connect: string, maxAttempts = 10): Promise<number> {
  let code: number | null = null;
  const expired = new Promise<void>((res) =>
    victim.once('close', (_z: unknown, c: number) => {
      code = c;
      res();
    }),
  );
  // The bundled types declare client_id as a number; at runtime it is a hex string.
  const clientId = String(victim.client_id);
  const clientPassword = victim.client_password;
  for (let i = 0; i < maxAttempts && code === null; i++) {
    const killer = new ZooKeeper({ connect, timeout: victim.timeout, debug_level: 0, client_id: clientId, client_password: clientPassword });
    // A killer for an already-expired session never emits 'connect', only 'close' (-112).
    const ok = await new Promise<boolean>((res) => {
      const t = setTimeout(() => res(false), 5_000);
      killer.once('connect', () => {
        clearTimeout(t);
        res(true);
      });
      killer.once('close', () => {
        clearTimeout(t);
        res(false);
      });
      killer.init({});
    });
    if (ok) await new Promise((r) => setTimeout(r, 20)); // closing at once loses the race more often
    killer.close();
    await Promise.race([expired, new Promise((r) => setTimeout(r, 2_000))]);
  }
  if (code === null) throw new Error('session could not be expired');
  return code;
}
