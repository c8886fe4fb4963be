/**
 * The page's way back to the host app (h5/README.md, "Going back to the app"), tried in this order:
 * 1. a native bridge: iOS `window.webkit.messageHandlers.h5Broker.postMessage(msg)`, Android
 *    `window.H5Broker.back(JSON.stringify(msg))` (addJavascriptInterface);
 * 2. in a frame: `parent.postMessage(msg, <the framing origin>)`;
 * 3. the `returnUrl` the app passed in the page URL (checked by the page server);
 * 4. the history, when there is one.
 * `msg` is `{type: "h5-broker:back", code, requestId}`: no token, nothing secret.
 */
export interface BackMessage {
  type: 'h5-broker:back';
  code: string;
  requestId?: string;
}

interface BridgeWindow {
  webkit?: { messageHandlers?: { h5Broker?: { postMessage(m: unknown): void } } };
  H5Broker?: { back?(json: string): void };
}

function framingOrigin(returnUrl: string | undefined): string | undefined {
  const ancestors = (location as Location & { ancestorOrigins?: DOMStringList }).ancestorOrigins;
  if (ancestors && ancestors.length > 0 && ancestors[0] !== 'null') return ancestors[0];
  if (returnUrl) return new URL(returnUrl).origin;
  return undefined;
}

/**
 * Tells the framing app (a frame only; a native WebView has its own load events) what the page
 * shows: `{type: "h5-broker:state", state, code}`, to the framing origin only.
 */
export function reportState(state: string, code?: string): void {
  if (window.parent === window || state === 'loading') return;
  const origin = framingOrigin(returnUrl());
  if (!origin) return;
  try {
    window.parent.postMessage({ type: 'h5-broker:state', state, ...(code && { code }) }, origin);
  } catch {
    // Nothing to tell: the page works the same.
  }
}

/** The page's returnUrl (set by the server only when it passed the registry check). */
export function returnUrl(): string | undefined {
  return document.body.dataset.returnUrl || undefined;
}

/** Takes the user back to the app by the first way that exists; returns which one it used. */
export function goBackToApp(msg: BackMessage): 'ios' | 'android' | 'frame' | 'returnUrl' | 'history' | 'none' {
  const w = window as unknown as BridgeWindow;
  const target = returnUrl();
  try {
    if (w.webkit?.messageHandlers?.h5Broker) {
      w.webkit.messageHandlers.h5Broker.postMessage(msg);
      return 'ios';
    }
    if (w.H5Broker && typeof w.H5Broker.back === 'function') {
      w.H5Broker.back(JSON.stringify(msg));
      return 'android';
    }
  } catch {
    // A broken bridge: fall through to the next way.
  }
  if (window.parent !== window) {
    const origin = framingOrigin(target);
    if (origin) {
      window.parent.postMessage(msg, origin);
      return 'frame';
    }
  }
  if (target) {
    location.assign(target);
    return 'returnUrl';
  }
  if (history.length > 1) {
    history.back();
    return 'history';
  }
  return 'none';
}
