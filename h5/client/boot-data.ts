/**
 * The product page's data block for its boot script, `<script type="application/json"
 * id="h5-boot">` (h5/page.ts): the gateway's URL, its JWKS when the page server has it, and the
 * locale and currency of the product's prices. Read by the boot script and, for the JWKS, by app.js.
 */
export interface BootData {
  gateway?: unknown;
  jwks?: unknown;
  locale?: string;
  currency?: string;
}

/** The data block's contents, or null when the page has none or it is not a JSON object. */
export function readBootData(): BootData | null {
  try {
    const data = JSON.parse(document.getElementById('h5-boot')?.textContent || 'null') as unknown;
    return data && typeof data === 'object' && !Array.isArray(data) ? (data as BootData) : null;
  } catch {
    return null;
  }
}
