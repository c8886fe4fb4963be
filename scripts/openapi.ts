/**
 * Writes docs/openapi.json: the gateway's OpenAPI 3.1 document (protocol/openapi.ts) for the
 * example server `https://gateway.example`. A running gateway serves the same document for its own
 * GATEWAY_PUBLIC_URL at `GET /openapi.json`. test/protocol/openapi.test.ts checks the file is current.
 */
import { writeFileSync } from 'node:fs';
import { buildOpenApi } from '../protocol/openapi.ts';

export const OPENAPI_FILE = new URL('../docs/openapi.json', import.meta.url);
export const EXAMPLE_SERVER = 'https://gateway.example';

export const openApiText = (): string => JSON.stringify(buildOpenApi(EXAMPLE_SERVER), null, 2) + '\n';

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(OPENAPI_FILE, openApiText());
  console.log(`wrote ${OPENAPI_FILE.pathname}`);
}
