import { pack } from 'msgpackr';
import { DEFAULT_ACK_TIMEOUT_MS, DEFAULT_ONLINE_LIMIT, MAX_MESSAGE_BYTES, Router } from '../../messaging/router.js';
import { isName, MAX_NAME_BYTES } from '../../protocol/messages.js';
import { ZkSession } from '../../zk/session.js';
import { checkHistoryStore, HISTORY_HELP, HISTORY_OPTIONS, historyTarget, intFlag, parseCli, runCli, UsageError, ZK_HELP, ZK_OPTIONS, zkTarget } from './args.js';
import { SECRET_HELP, SECRET_OPTIONS, secretOf } from './secret.js';
import { GATEWAY_CA_HELP, GATEWAY_CA_OPTIONS, gatewayTrustOf } from './tls.js';

const HELP = `
usage: npm run push -- --user U [--user U2 ...] --message MSG [--ack-timeout-ms MS]
       npm run push -- --room R --message MSG
       npm run push -- --broadcast --message MSG
       npm run push -- online [--prefix P] [--limit N]
       npm run push -- kick USER

Reaches logged-in users without HTTP: reads the route table from ZooKeeper and talks to the
servers' gateways directly (the library's Router). A push waits for the client's ack.
Exit 0 when everything was delivered (and acked), 1 when a user was offline or did not ack.
With history (--redis), a push is stored first: a user offline or not acking gets it at the next
login (printed as "stored", exit 0); exit 1 only when a push could not be stored.

  --user U                       push to U (repeat for several users: one line per user)
  --room R                       publish to every member of room R, on every server
  --broadcast                    write to every online user, once each
  --message MSG                  JSON if it parses ('{"a":1}', 42, '"text"'), otherwise the text as a string
  --ack-timeout-ms MS            how long a push waits for the ack (default ${DEFAULT_ACK_TIMEOUT_MS})
  --prefix P                     online: only users whose name starts with P
  --limit N                      online: list at most N users (default ${DEFAULT_ONLINE_LIMIT}; the total counts all)
${SECRET_HELP};
                                 needed when the servers have one (their gateways demand it)
${GATEWAY_CA_HELP}
${HISTORY_HELP}
${ZK_HELP}`;

const OPTIONS = {
  ...ZK_OPTIONS,
  ...SECRET_OPTIONS,
  ...GATEWAY_CA_OPTIONS,
  user: { type: 'string', multiple: true },
  room: { type: 'string' },
  broadcast: { type: 'boolean' },
  message: { type: 'string' },
  'ack-timeout-ms': { type: 'string' },
  prefix: { type: 'string' },
  limit: { type: 'string' },
  ...HISTORY_OPTIONS,
} as const;

const NAME_RULE = `a non-empty string of at most ${MAX_NAME_BYTES} bytes`;

function name(v: string, flag: string): string {
  if (!isName(v)) throw new UsageError(`${flag} must be ${NAME_RULE}, got ${JSON.stringify(v)}`);
  return v;
}

/** JSON when it parses, else the text itself: `--message hello` and `--message '"hello"'` send the same. */
function parseMessage(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  if (pack(value).length > MAX_MESSAGE_BYTES) throw new UsageError(`--message is larger than ${MAX_MESSAGE_BYTES} bytes once encoded`);
  return value;
}

type Action =
  | { kind: 'push'; users: string[]; message: unknown; ackTimeoutMs: number }
  | { kind: 'publish'; room: string; message: unknown }
  | { kind: 'broadcast'; message: unknown }
  | { kind: 'online'; prefix?: string; limit: number }
  | { kind: 'kick'; user: string };

/** Everything is checked before anything connects. */
function actionOf(values: ReturnType<typeof parseCli<typeof OPTIONS>>['values'], positionals: string[]): Action {
  const [command, ...rest] = positionals;
  const sendFlags = ['user', 'room', 'broadcast', 'message', 'ack-timeout-ms'] as const;
  const onlineFlags = ['prefix', 'limit'] as const;
  const given = (flags: readonly string[]) => flags.filter((f) => (values as Record<string, unknown>)[f] !== undefined);
  if (command === 'online' || command === 'kick') {
    const stray = given(command === 'online' ? sendFlags : [...sendFlags, ...onlineFlags]);
    if (stray.length > 0) throw new UsageError(`--${stray[0]} does not go with ${command}`);
    if (command === 'online') {
      if (rest.length > 0) throw new UsageError(`online takes no arguments, got ${JSON.stringify(rest[0])}`);
      if (values.prefix !== undefined && Buffer.byteLength(values.prefix, 'utf8') > MAX_NAME_BYTES) throw new UsageError(`--prefix must be at most ${MAX_NAME_BYTES} bytes`);
      return { kind: 'online', ...(values.prefix ? { prefix: values.prefix } : {}), limit: intFlag(values, 'limit', DEFAULT_ONLINE_LIMIT, 1, 100_000) };
    }
    if (rest.length !== 1) throw new UsageError('kick takes exactly one user: npm run push -- kick USER');
    return { kind: 'kick', user: name(rest[0]!, 'the user to kick') };
  }
  if (command !== undefined) throw new UsageError(`unknown command ${JSON.stringify(command)} (online, kick, or --user/--room/--broadcast)`);
  const stray = given(onlineFlags);
  if (stray.length > 0) throw new UsageError(`--${stray[0]} only goes with online`);
  const targets = given(['user', 'room', 'broadcast']);
  if (targets.length !== 1) throw new UsageError('give exactly one of --user, --room, --broadcast (or the command online / kick)');
  if (values.message === undefined) throw new UsageError('--message is required');
  const message = parseMessage(values.message);
  if (values['ack-timeout-ms'] !== undefined && values.user === undefined) throw new UsageError('--ack-timeout-ms only goes with --user');
  if (values.user !== undefined) {
    const users = values.user.map((u) => name(u, '--user'));
    if (new Set(users).size !== users.length) throw new UsageError('--user names a user twice');
    return { kind: 'push', users, message, ackTimeoutMs: intFlag(values, 'ack-timeout-ms', DEFAULT_ACK_TIMEOUT_MS, 1, 600_000) };
  }
  if (values.room !== undefined) return { kind: 'publish', room: name(values.room, '--room'), message };
  return { kind: 'broadcast', message };
}

runCli('push', async () => {
  const { values, positionals } = parseCli(process.argv.slice(2), OPTIONS, HELP, true);
  const { zk, root } = zkTarget(values);
  const secret = secretOf(values);
  const tls = gatewayTrustOf(values);
  const action = actionOf(values, positionals);
  const history = historyTarget(values);
  if (history) await checkHistoryStore(history.redis);
  const session = new ZkSession({ connect: zk, connectTimeoutMs: 5_000 });
  const push = new Router({ zk: session, root, secret, tls, history });
  try {
    await session.start();
    await push.start();
    switch (action.kind) {
      case 'push': {
        const results = await push.pushMany(action.users, action.message, { ackTimeoutMs: action.ackTimeoutMs });
        for (const r of results) {
          const at = r.stored ? `  offset ${r.offset} epoch ${r.epoch}` : '';
          if (r.acked) console.log(`acked      ${r.user}  on ${r.server}  id ${r.id}${at}`);
          else if (r.stored) console.log(`stored     ${r.user}  ${r.error?.code ?? ''}: delivered at the next login${at}`);
          else console.log(`${r.delivered ? 'not acked ' : 'failed    '} ${r.user}  ${r.error?.code ?? ''}: ${r.error?.message ?? ''}`);
        }
        if (results.some((r) => !r.acked && !r.stored)) process.exitCode = 1;
        break;
      }
      case 'publish': {
        const r = await push.publish(action.room, action.message);
        console.log(`room ${action.room}: ${r.recipients} recipients on ${r.servers} servers${r.offset !== undefined ? `  offset ${r.offset} epoch ${r.epoch}` : ''}`);
        break;
      }
      case 'broadcast': {
        const r = await push.broadcast(action.message);
        console.log(`broadcast: ${r.recipients} recipients on ${r.servers} servers`);
        break;
      }
      case 'online': {
        const r = push.online(action);
        console.log(`${r.total} online${action.prefix ? ` with prefix ${JSON.stringify(action.prefix)}` : ''}${r.users.length < r.total ? ` (showing ${r.users.length})` : ''}`);
        for (const u of r.users) console.log(`${u.user}  ${u.server}  since ${new Date(u.since).toISOString()}`);
        break;
      }
      case 'kick': {
        const route = push.route(action.user);
        if (route && (await push.kick(action.user))) console.log(`kicked ${action.user} (on ${route.server})`);
        else {
          console.error(`push: user ${JSON.stringify(action.user)} is not online`);
          process.exitCode = 1;
        }
        break;
      }
    }
  } finally {
    push.close();
    session.close();
  }
});
