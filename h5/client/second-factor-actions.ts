/**
 * The product page's actions that need the second factor (flows/binding): the product lists them
 * (`secondFactorActions`); each gets a button, a code field, and `POST
 * /v1/products/<id>/actions/<action>` with the code. Kept apart from the page's rendering, and
 * bundled as a chunk of its own (`/h5/assets/second-factor.js`) that registers itself as
 * `window.__h5SecondFactor`: only a product that lists such actions loads it.
 */
import type { Authorize } from './jwe-compact.ts';

interface Action {
  id: string;
  label: string;
}

function actionsOf(raw: unknown): Action[] {
  const list = (raw as { secondFactorActions?: unknown } | null)?.secondFactorActions;
  if (!Array.isArray(list)) return [];
  return list.filter((a): a is Action => !!a && typeof a.id === 'string' && /^[a-z0-9-]{1,64}$/.test(a.id) && typeof a.label === 'string').slice(0, 4);
}

/** Appends the product's second-factor actions (if any) to `root`. */
export function mountSecondFactorActions(root: HTMLElement, gateway: string, productId: string, authorize: Authorize, rawProduct: unknown): void {
  for (const action of actionsOf(rawProduct)) {
    const section = document.createElement('section');
    section.className = 'notice';
    section.dataset.action = action.id;
    const title = document.createElement('p');
    title.className = 'notice-text';
    title.textContent = `${action.label} (needs the code from your token app)`;
    const code = document.createElement('input');
    code.inputMode = 'numeric';
    code.autocomplete = 'one-time-code';
    code.maxLength = 6;
    code.setAttribute('aria-label', 'Code');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Confirm';
    const status = document.createElement('p');
    status.className = 'notice-text';
    status.setAttribute('role', 'status');
    button.onclick = async () => {
      const url = `${gateway}/v1/products/${encodeURIComponent(productId)}/actions/${encodeURIComponent(action.id)}`;
      const res = await fetch(url, {
        method: 'POST', headers: { ...(await authorize('POST', url)), 'Content-Type': 'application/json' }, body: JSON.stringify({ code: code.value.trim() }),
      });
      const body = (await res.json().catch(() => ({}))) as { message?: string; code?: string };
      section.dataset.result = res.ok ? 'done' : String(body.code ?? res.status);
      status.textContent = res.ok ? String(body.message ?? 'Done.')
        : body.code === 'binding_not_found' ? 'Bind a token app to this account first.'
        : body.code === 'totp_invalid' ? 'That code is not valid; type the current one.'
        : 'The action could not be done; try again.';
    };
    section.append(title, code, document.createTextNode(' '), button, status);
    root.append(section);
  }
}

/** What the chunk registers on `window`. */
export interface SecondFactorChunk {
  mountSecondFactorActions: typeof mountSecondFactorActions;
}

if (typeof window !== 'undefined') (window as unknown as { __h5SecondFactor?: SecondFactorChunk }).__h5SecondFactor = { mountSecondFactorActions };
