/** The challenge client's bundle (`/h5/assets/challenge.js`): registers itself as `window.__h5Challenge`. */
import { configureChallenge, gated, gatedFrom, obtainPass } from './challenge.ts';

window.__h5Challenge = { configureChallenge, gated, gatedFrom, obtainPass };
