/** Functions the browser tests run inside an H5 page (page.evaluate / waitForFunction). */

/** True once the page has kept its session for `productId` in IndexedDB (run in the H5 page; it keeps it beside the product call). */
export function sessionKept(productId: string): Promise<boolean> {
  return new Promise((resolve) => {
    const open = indexedDB.open('h5-session');
    // Never creates the database itself (an empty one would have no store for the page to use).
    open.onupgradeneeded = () => open.transaction?.abort();
    open.onerror = () => resolve(false);
    open.onsuccess = () => {
      try {
        const get = open.result.transaction('sessions').objectStore('sessions').get(productId);
        get.onsuccess = () => resolve(!!get.result);
        get.onerror = () => resolve(false);
      } catch {
        resolve(false);
      } finally {
        open.result.close();
      }
    };
  });
}
