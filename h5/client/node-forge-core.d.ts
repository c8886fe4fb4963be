/**
 * Types for node-forge's core object imported by path (envelope-forge.ts). The package's index
 * loads every forge module (TLS, PKCS#12, SSH...), nearly three times the bytes the envelope
 * needs; the core object is the same `forge` namespace, filled in by the modules imported next to it.
 */
declare module 'node-forge/lib/forge.js' {
  import forge from 'node-forge';
  export default forge;
}
