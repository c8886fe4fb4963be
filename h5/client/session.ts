/**
 * The session chunk (bundled apart to /h5/assets/session.js, loaded by app.js where WebCrypto and
 * IndexedDB exist): the session kept in IndexedDB, the VT and the page's key, so that a reload, or
 * a WebView the system recreated, picks it up again without a new AT (protocol sections 2 and 3).
 * The key and the DPoP proofs are page-key.ts's (the boot script and app.js carry it).
 *
 * The key is ECDSA P-256 made by WebCrypto with `extractable: false`: its private half can sign
 * and cannot be read out, not even by this page's own script. IndexedDB stores the CryptoKey
 * object as such (structured clone keeps it non-extractable). The VT is stored beside it: it is
 * bound to the key (`cnf.jkt`), so the VT alone, copied out of storage, opens nothing.
 */
import type { SessionApi, StoredSession } from './jwe-compact.ts';

const DB_NAME = 'h5-session';
const STORE = 'sessions';

let opening: Promise<IDBDatabase> | undefined;

function db(): Promise<IDBDatabase> {
  if (!opening) {
    opening = new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('blocked'));
    });
    opening.catch(() => {
      opening = undefined;
    });
  }
  return opening;
}

/** One request on the sessions store, as a promise. */
async function withStore<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const store = (await db()).transaction(STORE, mode).objectStore(STORE);
  return new Promise<T>((resolve, reject) => {
    const req = op(store);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

interface Stored extends StoredSession {
  /** The VT's expiry, seconds since the epoch (the page's clock). */
  exp: number;
}

const now = () => Math.floor(Date.now() / 1000);

const api: SessionApi = {

  async save(productId, s, expiresIn) {
    try {
      const stored: Stored = { vt: s.vt, key: s.key, exp: now() + expiresIn };
      await withStore('readwrite', (store) => store.put(stored, productId));
    } catch {
      // No IndexedDB here (a private window, storage full): the session lives in memory only.
    }
  },

  async restore(productId) {
    try {
      const s = (await withStore('readonly', (store) => store.get(productId))) as Stored | undefined;
      if (s && typeof s.vt === 'string' && s.key?.privateKey instanceof CryptoKey && s.exp > now() + 5) return { vt: s.vt, key: s.key };
      if (s) await api.clear(productId);
    } catch {
      // Nothing to pick up.
    }
    return null;
  },

  async clear(productId) {
    try {
      await withStore('readwrite', (store) => store.delete(productId));
    } catch {
      // Nothing stored.
    }
  },

};

window.__h5Session = api;
