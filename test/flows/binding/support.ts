/** Helpers of the binding tests: a VT for a user, the binding's calls, an SSE reader. */
import { createHmac } from 'node:crypto';
import { fullFlow, http } from '../../support/clients.ts';
import { confirmInput, parseBindingUri, type BindingPayload } from '../../../protocol/binding.ts';

export async function visitToken(gateway: string, userId: string): Promise<string> {
  return (await fullFlow(gateway, userId)).reply.vt;
}

export const bearer = (vt: string) => ({ headers: { authorization: `Bearer ${vt}`, 'content-type': 'application/json' } });

export interface Created {
  bindingId: string;
  uri: string;
  otpauthUri: string;
  streamTicket: string;
  payload: BindingPayload;
}

export async function createBinding(gateway: string, vt: string, body: object = {}): Promise<Created> {
  const res = await http.post(`${gateway}/v1/bindings`, body, bearer(vt));
  if (res.status !== 201) throw new Error(`create answered ${res.status} ${JSON.stringify(res.data)}`);
  return { ...res.data, payload: parseBindingUri(res.data.uri)! };
}

/** The page's confirmation of the phone's hash, under the first key. */
export function pageProof(payload: BindingPayload, bindingId: string, phoneHash: string): string {
  return createHmac('sha256', Buffer.from(payload.key, 'base64url')).update(confirmInput(bindingId, phoneHash)).digest('base64url');
}

export function confirm(gateway: string, vt: string, bindingId: string, proof: string) {
  return http.post(`${gateway}/v1/bindings/${bindingId}/confirm`, { proof }, bearer(vt));
}

export interface SseEvent {
  id?: string;
  event: string;
  data: Record<string, unknown>;
}

/** An open event stream: the events so far, a wait for one, and whether the server ended it. */
export interface Stream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  comments: number;
  ended: Promise<void>;
  next(event: string, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

export async function openStream(gateway: string, bindingId: string, ticket: string, lastEventId?: string): Promise<Stream> {
  const ac = new AbortController();
  const res = await fetch(`${gateway}/v1/bindings/${bindingId}/events?ticket=${encodeURIComponent(ticket)}`, {
    headers: lastEventId ? { 'last-event-id': lastEventId } : {}, signal: ac.signal,
  });
  const events: SseEvent[] = [];
  const waiters: (() => void)[] = [];
  const stream: Stream = {
    status: res.status, headers: res.headers, events, comments: 0, ended: Promise.resolve(),
    async next(event, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.find((e) => e.event === event);
        if (hit) return hit;
        if (Date.now() > until) throw new Error(`no "${event}" event; got ${events.map((e) => e.event).join(', ')}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
    close: () => ac.abort(),
  };
  if (res.status !== 200 || !res.body) return stream;
  stream.ended = (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let at: number;
        while ((at = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, at);
          buf = buf.slice(at + 2);
          if (block.startsWith(':')) {
            stream.comments++;
            continue;
          }
          const fields = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
          if (fields.event) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data ?? '{}') });
          for (const w of waiters.splice(0)) w();
        }
      }
    } catch {
      // Aborted by the test.
    }
  })();
  return stream;
}
