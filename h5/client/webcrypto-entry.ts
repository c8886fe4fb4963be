/**
 * The WebCrypto envelope as a chunk of its own (envelope-webcrypto.js): the product page's boot
 * script carries it and hands it over (`window.__h5WebCrypto`); app.js loads this chunk only where
 * the boot script did not run (a browser without ES2017, or a page served without it).
 */
import { webCryptoEnvelope } from './envelope-webcrypto.ts';

window.__h5WebCrypto = webCryptoEnvelope;
