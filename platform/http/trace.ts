/**
 * W3C Trace Context, where it is cheap: a well-formed incoming `traceparent` (and its `tracestate`)
 * is kept for the request's lifetime, under the request's id, and passed on unchanged to the
 * services the request calls (platform/http/upstream.ts): the broker records no spans of its own,
 * so it forwards the caller's parent (the spec's pass-through). The request log line carries the
 * trace id beside the request id. Nothing is kept for a request without one.
 */

/** Version 00 as the spec defines it: trace id, parent id (neither all zeros), flags. */
const TRACEPARENT_RE = /^00-(?!0{32})([0-9a-f]{32})-(?!0{16})([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceHeaders {
  traceparent: string;
  tracestate?: string;
}

/** The trace id of a well-formed `traceparent`, else undefined (a malformed one is ignored). */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent ? TRACEPARENT_RE.exec(traceparent)?.[1] : undefined;
}

/** The trace headers of the requests in flight, by request id; several requests may share an id. */
const inFlight = new Map<string, { headers: TraceHeaders; count: number }>();

/**
 * Keeps `headers` for `requestId` until the returned function is called (at the request's end).
 * Two requests in flight with one id (a client that reuses its X-Request-Id) share the first one's.
 */
export function holdTrace(requestId: string, headers: TraceHeaders): () => void {
  const held = inFlight.get(requestId);
  if (held) held.count++;
  else inFlight.set(requestId, { headers, count: 1 });
  return () => {
    const h = inFlight.get(requestId);
    if (h && --h.count === 0) inFlight.delete(requestId);
  };
}

/** The trace headers to send along with a call made for `requestId`, or none. */
export function traceHeadersFor(requestId: string | undefined): TraceHeaders | undefined {
  return requestId === undefined || inFlight.size === 0 ? undefined : inFlight.get(requestId)?.headers;
}
