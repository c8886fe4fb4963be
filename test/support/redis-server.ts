/**
 * A redis-server of a test's own, on a free port and in its own temp dir, that the test may stop,
 * kill, pause and restart. Every server started here is killed when the test process exits, even
 * after a failed test that never reached its `after` hook.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from 'mocha';
import { createClient } from 'redis';
import { freePort } from '../../scripts/free-port.ts';
import { IN_CI } from './env.ts';

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const proc of running) proc.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True when `redis-server` is on PATH. */
function haveRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface RedisServerOptions {
  /** Extra redis-server arguments, e.g. `['--maxmemory-policy', 'allkeys-lru']`. */
  args?: string[];
  /** AOF with fsync on every write, so that data survives a kill -9 and a restart. */
  durable?: boolean;
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  private constructor(readonly port: number, readonly dir: string, private readonly args: string[]) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /**
   * Starts a server and waits until it answers PING. Where redis-server is not installed the test
   * is skipped on a developer's machine and fails under CI.
   */
  static async start(ctx: Context | undefined, opts: RedisServerOptions = {}): Promise<RedisServer> {
    if (!haveRedisServer()) {
      if (IN_CI || !ctx) throw new Error('redis-server is required on PATH (under CI=true nothing is skipped)');
      ctx.skip();
    }
    const durable = opts.durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const args = ['--bind', '127.0.0.1', '--save', '', ...durable, ...(opts.args ?? [])];
    // The port was free a moment ago; another process may take it first, so try a few.
    for (let attempt = 0; ; attempt++) {
      const server = new RedisServer(await freePort(), mkdtempSync(path.join(os.tmpdir(), 'h5b-redis-')), args);
      try {
        await server.launch();
        return server;
      } catch (err) {
        await server.stop();
        if (attempt >= 2) throw err;
      }
    }
  }

  private async launch(): Promise<void> {
    const proc = spawn('redis-server', ['--port', String(this.port), '--dir', this.dir, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    running.add(proc);
    let output = '';
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    proc.once('exit', () => running.delete(proc));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited at start: ${output.slice(-500)}`);
      // PONG only once the dataset (an AOF after a restart) is loaded.
      if (spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG') return;
      await sleep(25);
    }
    throw new Error(`redis-server on port ${this.port} did not answer within 5 s: ${output.slice(-500)}`);
  }

  /** Starts the server again on the same port and dir (after `kill`), with its data if durable. */
  async restart(): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) throw new Error('redis-server is still running');
    await this.launch();
  }

  /** kill -9, and waits until the process is gone. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: the process keeps its sockets but answers nothing, as a hung Redis does. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  /** SIGCONT after `pause`. */
  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  /** Kills the server (a paused one too) and removes its dir. Safe to call more than once. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Runs one command with redis-cli and returns its output (trimmed). */
  cli(...args: string[]): string {
    const res = spawnSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8', timeout: 5000 });
    if (res.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${res.stderr}`);
    return res.stdout.trim();
  }

  /** The names of the clients connected now (CLIENT LIST), without the one asking. */
  clientNames(): string[] {
    return this.cli('CLIENT', 'LIST')
      .split('\n')
      .filter((line) => line && !/ cmd=client\|list /.test(line))
      .map((line) => / name=(\S*)/.exec(line)?.[1] ?? '');
  }

  /** A plain node-redis client on this server, for a test to fill, inspect or break it. */
  async client() {
    const client = createClient({ url: this.url, socket: { reconnectStrategy: false } });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }
}
