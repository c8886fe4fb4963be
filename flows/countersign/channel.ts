/**
 * The near link between the device (client) and the relay: JSON messages, one per line, over a
 * pair of streams (the device's stdin/stdout when the relay runs it as a child process), or over
 * an in-process pair. No network: whatever carries it has no route to the gateway.
 */
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';

export interface Channel {
  send(message: Record<string, unknown>): void;
  /** The next message; rejects when the other side closed. */
  receive(): Promise<Record<string, unknown>>;
}

/** Longest line accepted on the link. */
const MAX_LINE = 64 * 1024;

/** A channel over a readable and a writable stream, one JSON object per line. */
export function lineChannel(input: Readable, output: Writable): Channel {
  const queue: Record<string, unknown>[] = [];
  const waiting: { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  let closed = false;
  const rl = createInterface({ input, crlfDelay: Infinity });
  rl.on('line', (line) => {
    let msg: unknown;
    try {
      msg = line.length <= MAX_LINE ? JSON.parse(line) : undefined;
    } catch {
      msg = undefined;
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return;
    const w = waiting.shift();
    if (w) w.resolve(msg as Record<string, unknown>);
    else queue.push(msg as Record<string, unknown>);
  });
  rl.on('close', () => {
    closed = true;
    for (const w of waiting.splice(0)) w.reject(new Error('the near link closed'));
  });
  return {
    send(message) {
      output.write(`${JSON.stringify(message)}\n`);
    },
    receive() {
      const m = queue.shift();
      if (m) return Promise.resolve(m);
      if (closed) return Promise.reject(new Error('the near link closed'));
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
  };
}

/** Two connected in-process channels (tests, and a relay and device in one program). */
export function channelPair(): [Channel, Channel] {
  const make = () => ({ queue: [] as Record<string, unknown>[], waiting: [] as ((m: Record<string, unknown>) => void)[] });
  const a = make();
  const b = make();
  const end = (mine: typeof a, theirs: typeof a): Channel => ({
    send(message) {
      const copy = JSON.parse(JSON.stringify(message)) as Record<string, unknown>;
      const w = theirs.waiting.shift();
      if (w) w(copy);
      else theirs.queue.push(copy);
    },
    receive() {
      const m = mine.queue.shift();
      return m ? Promise.resolve(m) : new Promise((resolve) => mine.waiting.push(resolve));
    },
  });
  return [end(a, b), end(b, a)];
}
