import { decodeServerData } from '../server-data.js';
import { C, isZk } from '../zk/codes.js';
import type { ZkClient, ZkNode } from '../zk/zk-client.js';
import { DEFAULT_ROOT, validateRoot } from '../zk/paths.js';
import { sessionClient, type ZkSession } from '../zk/session.js';
import { DepartedMemory, makeSnapshot, type ServerInfo, type ServerSource, type Snapshot } from './snapshot.js';

/** Called for a child whose data is not valid ServerData; the node is skipped, never fatal. */
export type MalformedHandler = (name: string, err: Error) => void;

export interface ReadServersOptions {
  /** @default warns once per node name and error message via process.emitWarning */
  onMalformed?: MalformedHandler;
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
 * is an empty cluster. Other ZooKeeper failures reject with ZkError.
 */
export async function readServers(zk: ZkClient, root: string, opts: ReadServersOptions = {}): Promise<ServerInfo[]> {
  const onMalformed = opts.onMalformed ?? warnMalformedOnce(root);
  let names: string[];
  try {
    names = await zk.children(root);
  } catch (e) {
    if (isZk(e, C.ZNONODE)) return [];
    throw e;
  }
  // Promise.all subscribes to every get, so a failure of one leaves no unhandled rejection behind.
  const infos = await Promise.all(
    names.map(async (name) => {
      const path = `${root}/${name}`;
      let node: ZkNode;
      try {
        node = await zk.get(path);
      } catch (e) {
        if (isZk(e, C.ZNONODE)) return undefined; // deregistered between list and get
        throw e;
      }
      return toServerInfo(name, node.data, onMalformed);
    }),
  );
  return infos.filter((s): s is ServerInfo => s !== undefined);
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
    const zk = await sessionClient(this.session);
    // The picture is as old as the read's start: nodes may have changed while it ran.
    const at = Date.now();
    const servers = await readServers(zk, this.root, this.opts);
    return makeSnapshot(servers, ++this.version, at, { departed: this.departed.observe(servers, Date.now()) });
  }
}
