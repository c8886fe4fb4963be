// node-oidc-provider ships no type declarations; the reference server uses only its constructor.
declare module 'oidc-provider';
