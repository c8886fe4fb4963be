/**
 * The gateway's description of itself: `GET /openapi.json` (protocol/openapi.ts for this gateway's
 * public URL) and `GET /docs`, the same document as a plain HTML page (no script, no external
 * resource, no style sheet: the deny-all CSP of every answer holds).
 */
import { escapeHtml } from '../platform/http/html.ts';
import type { AppRouter } from '../platform/http/state.ts';
import { buildOpenApi } from '../protocol/openapi.ts';

type Json = Record<string, any>;

const code = (v: unknown) => `<pre><code>${escapeHtml(JSON.stringify(v, null, 2))}</code></pre>`;
/** The docs' own backquotes become <code>; everything else is escaped text. */
const prose = (s: unknown) => escapeHtml(String(s ?? '')).replace(/`([^`]+)`/g, '<code>$1</code>');

function resolve(doc: Json, schema: Json | undefined): Json | undefined {
  const r = schema?.$ref as string | undefined;
  return r ? doc.components.schemas[r.split('/').pop()!] : schema;
}

/** Renders the OpenAPI document as one HTML page. */
export function renderApiDocs(doc: Json): string {
  const out: string[] = [];
  out.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(doc.info.title)}</title></head><body>`);
  out.push(`<h1>${escapeHtml(doc.info.title)} <small>${escapeHtml(doc.info.version)}</small></h1><p>${prose(doc.info.description)}</p>`);
  out.push(`<p>Server: <code>${escapeHtml(doc.servers[0].url)}</code>. Machine-readable: <a href="openapi.json">openapi.json</a>.</p>`);
  out.push('<h2>Endpoints</h2><ul>');
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const method of Object.keys(item)) out.push(`<li><a href="#${escapeHtml(item[method].operationId)}">${method.toUpperCase()} ${escapeHtml(path)}</a>: ${prose(item[method].summary)}</li>`);
  }
  out.push('</ul>');
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) {
      out.push(`<section id="${escapeHtml(op.operationId)}"><h2>${method.toUpperCase()} ${escapeHtml(path)}</h2><p>${prose(op.summary)}</p>`);
      if (op.description) out.push(`<p>${prose(op.description)}</p>`);
      if (op.security) out.push(`<p>Authentication: ${op.security.map((s: Json) => `<code>${escapeHtml(Object.keys(s)[0]!)}</code>`).join(', ')}</p>`);
      for (const p of op.parameters ?? []) out.push(`<p>${escapeHtml(p.in)} <code>${escapeHtml(p.name)}</code>${p.required ? ' (required)' : ''}: ${prose(p.description)}</p>`);
      if (op.requestBody) {
        for (const [type, media] of Object.entries<Json>(op.requestBody.content)) out.push(`<h3>Request <code>${escapeHtml(type)}</code></h3>${code(resolve(doc, media.schema))}`);
      }
      out.push('<h3>Responses</h3><table><tr><th>status</th><th>meaning</th><th>headers</th></tr>');
      for (const [status, res] of Object.entries<Json>(op.responses)) {
        const headers = Object.entries<Json>(res.headers ?? {}).map(([h, v]) => `<code>${escapeHtml(h)}</code>${v.schema?.enum ? `: ${v.schema.enum.map((e: string) => `<code>${escapeHtml(e)}</code>`).join(' or ')}` : ''}`).join(', ');
        out.push(`<tr><td>${escapeHtml(status)}</td><td>${prose(res.description)}</td><td>${headers}</td></tr>`);
      }
      out.push('</table>');
      const success = Object.entries<Json>(op.responses).find(([s]) => s.startsWith('2'))?.[1];
      for (const [type, media] of Object.entries<Json>(success?.content ?? {})) out.push(`<h3>Success <code>${escapeHtml(type)}</code></h3>${code(resolve(doc, media.schema))}`);
      out.push('</section>');
    }
  }
  out.push('<h2>Schemas</h2>');
  for (const [name, schema] of Object.entries<Json>(doc.components.schemas)) out.push(`<section id="schema-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3>${code(schema)}</section>`);
  out.push('<h2>Authentication schemes</h2>');
  for (const [name, scheme] of Object.entries<Json>(doc.components.securitySchemes)) out.push(`<h3>${escapeHtml(name)}</h3><p>${prose(scheme.description)}</p>`);
  out.push('</body></html>');
  return out.join('\n');
}

/** Mounts `GET /openapi.json` and `GET /docs` for a gateway whose public URL is `publicUrl`. */
export function mountApiDocs(router: AppRouter, publicUrl: string): void {
  const doc = buildOpenApi(publicUrl);
  const json = JSON.stringify(doc);
  const html = renderApiDocs(doc);
  router.get('/openapi.json', async function openApiDocument(ctx) {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/json';
    ctx.body = json;
  });
  router.get('/docs', async function apiDocsPage(ctx) {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html;
  });
}
