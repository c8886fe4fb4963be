/**
 * The AT as a host app hands it to a page: in the URL fragment, `#at=<AT>`. Shared by the product
 * page (app.ts), the binding page and the H5 SDK.
 */

/** Longer than any AT the broker issues (43 characters): anything longer is no AT. */
const MAX_AT_LENGTH = 4096;

/**
 * Reads `#at=<AT>` and erases the fragment at once, so the AT stays in neither history nor a
 * copied link; null when there is none, or it is too long to be one.
 */
export function takeAccessToken(): string | null {
  const hash = location.hash;
  if (!hash) return null;
  const at = new URLSearchParams(hash.slice(1)).get('at');
  try {
    history.replaceState(null, '', location.pathname + location.search);
  } catch {
    location.hash = ''; // leaves a bare '#', but no token
  }
  return at && at.length <= MAX_AT_LENGTH ? at : null;
}
