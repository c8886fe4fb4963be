/**
 * A Redis Cluster of a test's own: 3 masters and 3 replicas from `redis-server` binaries on free
 * ports, joined with `redis-cli --cluster create … --cluster-replicas 1`, torn down by `stop`.
 * Also the cluster's key-slot function (CRC16/XMODEM of the hash tag, mod 16384), so a test can
 * aim keys at one slot, and a slot migration step by step as `redis-cli --cluster reshard` does it.
 */
import { spawnSync } from 'node:child_process';
import type { Context } from 'mocha';
import { RedisServer } from './redis-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Redis Cluster's CRC16 (XMODEM). */
function crc16(buf: Buffer): number {
  let crc = 0;
  for (const byte of buf) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of `key`: of the text between its first `{` and the next `}` when not empty. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key)) % 16384;
}

export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  /** The seed node URLs (REDIS_CLUSTER_NODES). */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  static async start(ctx: Context | undefined): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        nodes.push(await RedisServer.start(ctx, { args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--maxmemory-policy', 'noeviction', '--repl-diskless-sync-delay', '0'] }));
      }
      const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
      const cluster = new RedisCluster(nodes);
      await cluster.waitUntilOk();
      return cluster;
    } catch (err) {
      await Promise.all(nodes.map((n) => n.stop()));
      throw err;
    }
  }

  /** Waits until every node says cluster_state:ok and agrees on the slots, and each master's replica is in sync. */
  async waitUntilOk(ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const ok = this.nodes.every((n) => {
        try {
          return /cluster_state:ok/.test(n.cli('CLUSTER', 'INFO'));
        } catch {
          return false;
        }
      });
      // Every replica has finished its first sync (a WAIT counts only those).
      const synced = ok && this.nodes.every((n) => {
        const info = n.cli('INFO', 'replication');
        return !/^role:master/m.test(info) || (/connected_slaves:1/.test(info) && /state=online/.test(info));
      });
      if (ok && synced) {
        const check = spawnSync('redis-cli', ['--cluster', 'check', `127.0.0.1:${this.nodes[0]!.port}`], { encoding: 'utf8', timeout: 10_000 });
        if (check.status === 0 && !/\[ERR\]|\[WARNING\]/.test(check.stdout)) return;
      }
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not become ok in time');
      await sleep(100);
    }
  }

  /** The node id of a server (CLUSTER MYID). */
  idOf(node: RedisServer): string {
    return node.cli('CLUSTER', 'MYID');
  }

  /** The master that serves `slot` now. */
  masterOf(slot: number): RedisServer {
    for (const node of this.nodes) {
      const line = node.cli('CLUSTER', 'NODES').split('\n').find((l) => l.includes('myself'))!;
      if (!line.includes('master')) continue;
      const ranges = line.split(' ').slice(8).filter((r) => /^\d/.test(r));
      if (ranges.some((r) => {
        const [a, b] = r.split('-').map(Number);
        return slot >= a! && slot <= (b ?? a!);
      })) return node;
    }
    throw new Error(`no master serves slot ${slot}`);
  }

  /** Another master than `node`. */
  otherMaster(node: RedisServer): RedisServer {
    return this.nodes.find((n) => n !== node && n.cli('ROLE').startsWith('master'))!;
  }

  /**
   * Moves `slot` from its master to `to` as a resharding does: IMPORTING/MIGRATING, then its keys
   * `batch` at a time with `pauseMs` between batches (clients meanwhile get ASK, or TRYAGAIN for a
   * multi-key command whose keys are split), then the slot assigned to `to` on every master.
   * Answers how many keys moved.
   */
  async migrateSlot(slot: number, to: RedisServer, opts: { batch?: number; pauseMs?: number } = {}): Promise<number> {
    const from = this.masterOf(slot);
    const fromId = this.idOf(from);
    const toId = this.idOf(to);
    to.cli('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId);
    from.cli('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId);
    let moved = 0;
    for (;;) {
      const keys = from.cli('CLUSTER', 'GETKEYSINSLOT', String(slot), String(opts.batch ?? 2)).split('\n').filter(Boolean);
      if (keys.length === 0) break;
      from.cli('MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
      moved += keys.length;
      await sleep(opts.pauseMs ?? 20);
    }
    for (const node of [to, from, ...this.nodes.filter((n) => n !== to && n !== from)]) {
      if (node.cli('ROLE').startsWith('master')) node.cli('CLUSTER', 'SETSLOT', String(slot), 'NODE', toId);
    }
    return moved;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
