import type ZooKeeper from 'zookeeper';
import { ZkOperationError } from '../errors.js';
import { decodeServerData } from '../server-data.js';
import { C, isZk, zkCode } from '../zk/codes.js';
import { DEFAULT_ROOT, validateRoot } from '../zk/paths.js';
import type { ZkSession } from '../zk/session.js';
import { DepartedMemory, makeSnapshot, type ServerInfo, type ServerSource, type Snapshot } from './snapshot.js';

/** Called for a child whose data is not valid ServerData; the node is skipped, never fatal. */
export type MalformedHandler = (name: string, err: Error) => void;

export interface ReadServersOptions {
  /** @default warns once per node name and error message via process.emitWarning */
  onMalformed?: MalformedHandler;
}

/** The parts of a znode stat discovery relies on (the bundled `stat` type is loose, ctime is really a Date). */
export interface NodeStat {
  /** zxid of the last write; grows across re-creation of the same name, so it orders any two reads. */
  readonly mzxid: number;
  readonly version: number;
}

export interface NodeRead {
  readonly stat: NodeStat;
  readonly data: Buffer;
}

/** Typed `get`: the native client resolves `[stat, data]` as `any[]`. */
export async function readNode(zk: ZooKeeper, path: string, watch: boolean): Promise<NodeRead> {
  const res: unknown[] = await zk.get(path, watch);
  const raw = (res[0] ?? {}) as { mzxid?: unknown; version?: unknown };
  const data = res[1];
  return {
    stat: { mzxid: Number(raw.mzxid ?? 0), version: Number(raw.version ?? 0) },
    // data_as_buffer is the default; tolerate a string-mode handle anyway.
    data: Buffer.isBuffer(data) ? data : Buffer.from(typeof data === 'string' ? data : ''),
  };
}

/** Validates and tags node data; undefined plus a call to `onMalformed` when it is not ServerData. */
export function toServerInfo(name: string, data: Buffer, onMalformed: MalformedHandler): ServerInfo | undefined {
  try {
    return { ...decodeServerData(data), name };
  } catch (e) {
    onMalformed(name, e instanceof Error ? e : new Error(String(e)));
    return undefined;
  }
}

// Bounded so that a churn of malformed sequential nodes cannot grow it forever.
const MAX_WARNED = 10_000;
const warned = new Set<string>();

/** The default MalformedHandler: one process warning per root, name and error message. */
export function warnMalformedOnce(root: string): MalformedHandler {
  return (name, err) => {
    const key = `${root}/${name}\0${err.message}`;
    if (warned.has(key)) return;
    if (warned.size >= MAX_WARNED) warned.clear();
    warned.add(key);
    process.emitWarning(`skipping ${root}/${name}: ${err.message}`, { code: 'FULCRUM_MALFORMED_SERVER_DATA' });
  };
}

/**
 * One-shot read of every server under `root`: lists the children, then gets all of them
 * pipelined. Nodes that vanish meanwhile and malformed nodes are skipped; a missing root
 * is an empty cluster. Other ZooKeeper failures reject with ZkOperationError.
 */
export async function readServers(zk: ZooKeeper, root: string, opts: ReadServersOptions = {}): Promise<ServerInfo[]> {
  const onMalformed = opts.onMalformed ?? warnMalformedOnce(root);
  let names: string[];
  try {
    names = await zk.get_children(root, false);
  } catch (e) {
    if (isZk(e, C.ZNONODE)) return [];
    throw new ZkOperationError('get_children', root, zkCode(e), { cause: e });
  }
  // Promise.all subscribes to every get, so a failure of one leaves no unhandled rejection behind.
  const infos = await Promise.all(
    names.map(async (name) => {
      const path = `${root}/${name}`;
      let node: NodeRead;
      try {
        node = await readNode(zk, path, false);
      } catch (e) {
        if (isZk(e, C.ZNONODE)) return undefined; // deregistered between list and get
        throw new ZkOperationError('get', path, zkCode(e), { cause: e });
      }
      return toServerInfo(name, node.data, onMalformed);
    }),
  );
  return infos.filter((s): s is ServerInfo => s !== undefined);
}

/** The current handle of a session, starting the session (or waiting for its replacement) when it has none. */
export async function sessionHandle(session: ZkSession): Promise<ZooKeeper> {
  try {
    return session.zk;
  } catch {
    return session.start();
  }
}

/** "Read all nodes" discovery: every call is a fresh one-shot read. */
export class ZkReadSource implements ServerSource {
  readonly root: string;
  private version = 0;
  private readonly departed = new DepartedMemory();

  constructor(
    private readonly session: ZkSession,
    root: string = DEFAULT_ROOT,
    private readonly opts: ReadServersOptions = {},
  ) {
    this.root = validateRoot(root);
  }

  async snapshot(): Promise<Snapshot> {
    const zk = await sessionHandle(this.session);
    // The picture is as old as the read's start: nodes may have changed while it ran.
    const at = Date.now();
    const servers = await readServers(zk, this.root, this.opts);
    return makeSnapshot(servers, ++this.version, at, { departed: this.departed.observe(servers, Date.now()) });
  }
}
