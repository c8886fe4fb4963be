/**
 * Import direction, checked by `npm run deps` (part of `npm test`).
 *
 *   protocol  <-  platform  <-  flows  <-  deployables (gateway, auth, h5, third-party-demo, system, scripts, bench)
 *   protocol  <-  platform  <-  sdk    <-  deployables
 *   protocol  <-  h5/client (browser code: h5/client, protocol and node-forge only)
 *   test/ may import anything.
 *
 * Type-only imports count: they are arrows too (tsPreCompilationDeps).
 */

/** The deployables: each may import everything below it, and another deployable only through system/. */
const DEPLOYABLES = ['gateway', 'auth', 'h5', 'third-party-demo', 'system', 'scripts', 'bench'];

/**
 * Cross-flow imports as they stand: flow -> the modules of other flows it may use. A flow that needs
 * another flow's internals must be added here on purpose (and reviewed), not by accident.
 * `flows/deps.ts` (GatewayDeps/AuthDeps) and `flows/audit.ts` (the audit event list) are shared by all flows.
 */
const FLOW_USES = {
  challenge: ['visit-token/checker.ts', 'rate-limit/limiter.ts', 'countersign/registry.ts'],
  'access-token': ['apps/audience.ts', 'apps/profile.ts', 'apps/registry.ts', 'rate-limit/limiter.ts'],
  apps: ['rate-limit/limiter.ts'],
  binding: ['keys/keys.ts', 'visit-token/checker.ts'],
  keys: [],
  'product-api': ['visit-token/checker.ts', 'visit-token/records.ts', 'rate-limit/limiter.ts'],
  'rate-limit': [],
  'token-admin': ['apps/registry.ts', 'visit-token/checker.ts', 'visit-token/records.ts'],
  countersign: ['visit-token/checker.ts', 'visit-token/records.ts', 'product-api/public.ts'],
  'visit-token': ['access-token/records.ts', 'apps/profile.ts', 'keys/keys.ts', 'keys/signing-keys.ts', 'rate-limit/limiter.ts'],
};
const FLOW_SHARED = ['^flows/deps[.]ts$', '^flows/audit[.]ts$'];
/** flows/deps.ts wires the flows together: it may name the shared services' types. */
const DEPS_USES = ['apps/registry.ts', 'keys/keys.ts', 'keys/signing-keys.ts', 'rate-limit/limiter.ts', 'access-token/seam.ts', 'visit-token/seam.ts', 'keys/seam.ts', 'binding/settings.ts', 'challenge/settings.ts', 'countersign/seam.ts', 'countersign/settings.ts'];

const esc = (s) => s.replace(/[.]/g, '[.]');
const dir = (names) => `^(${names.join('|')})/`;

const forbidden = [
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'No import cycles, type-only ones included.',
    from: {},
    to: { circular: true },
  },
  {
    name: 'not-to-unresolvable',
    severity: 'error',
    comment: 'Every import resolves (a typo in a path is caught here as well as by tsc).',
    from: {},
    to: { couldNotResolve: true },
  },
  {
    name: 'protocol-imports-only-protocol',
    severity: 'error',
    comment: 'protocol/ is the browser-safe wire contract: no node builtins, no packages, nothing outside protocol/.',
    from: { path: '^protocol/' },
    to: { pathNot: '^protocol/' },
  },
  {
    name: 'platform-imports-platform-protocol',
    severity: 'error',
    comment: 'platform/ is plumbing: it may use platform/, protocol/, node builtins and packages; never flows, sdk or a deployable.',
    from: { path: '^platform/' },
    to: { path: dir(['flows', 'sdk', 'test', ...DEPLOYABLES, 'h5/client']) },
  },
  {
    name: 'flows-import-flows-platform-protocol',
    severity: 'error',
    comment: 'flows/ may use flows/, platform/, protocol/, node builtins and packages; never sdk or a deployable.',
    from: { path: '^flows/' },
    to: { path: dir(['sdk', 'test', ...DEPLOYABLES]) },
  },
  {
    name: 'sdk-imports-sdk-platform-protocol',
    severity: 'error',
    comment: 'sdk/ (code the outside servers run) may use sdk/, platform/, protocol/, node builtins and packages; never flows or a deployable.',
    from: { path: '^sdk/' },
    to: { path: dir(['flows', 'test', ...DEPLOYABLES]) },
  },
  {
    name: 'h5-client-is-browser-code',
    severity: 'error',
    comment: 'h5/client/ is bundled for the browser by esbuild: h5/client/, protocol/, node-forge and qrcode (the binding page) only (no node builtins).',
    from: { path: '^h5/client/' },
    to: { pathNot: ['^h5/client/', '^protocol/', 'node_modules/node-forge/', 'node_modules/qrcode/'] },
  },
  {
    name: 'deployables-meet-through-system',
    severity: 'error',
    comment:
      'A deployable does not import another deployable, except: system/ (the launcher) imports the deployables it starts; ' +
      'a deployable imports system/ (run.ts, config.ts); bench/ also uses the H5 bundle and sample products it measures, and scripts/free-port.ts.',
    from: { path: dir(DEPLOYABLES), pathNot: ['^system/', '^bench/'] },
    to: { path: dir(DEPLOYABLES.filter((d) => d !== 'system')), pathNot: '^$1/' },
  },
  {
    name: 'bench-imports',
    severity: 'error',
    comment: 'bench/ may use system/, the H5 bundle and sample products (h5/bundle.ts, h5/products.ts) and scripts/free-port.ts; no other deployable.',
    from: { path: '^bench/' },
    to: {
      path: dir(DEPLOYABLES.filter((d) => d !== 'system' && d !== 'bench')),
      pathNot: ['^h5/bundle[.]ts$', '^h5/products[.]ts$', '^scripts/free-port[.]ts$'],
    },
  },
  {
    name: 'not-into-test',
    severity: 'error',
    comment: 'Only tests import test/ (support helpers).',
    from: { pathNot: '^test/' },
    to: { path: '^test/' },
  },
  {
    name: 'flows-deps-uses-only-shared-services',
    severity: 'error',
    comment: 'flows/deps.ts names the shared services only.',
    from: { path: '^flows/deps[.]ts$' },
    to: { path: '^flows/[^/]+/', pathNot: DEPS_USES.map((m) => `^flows/${esc(m)}$`) },
  },
  {
    name: 'flows-root-is-shared',
    severity: 'error',
    comment: 'The files at the root of flows/ (audit.ts, ...) are shared by every flow: they use no flow folder (deps.ts excepted, above).',
    from: { path: '^flows/[^/]+$', pathNot: '^flows/deps[.]ts$' },
    to: { path: '^flows/[^/]+/' },
  },
  ...Object.entries(FLOW_USES).map(([flow, uses]) => ({
    name: `flow-${flow}-cross-flow`,
    severity: 'error',
    comment: `flows/${flow}/ may use only these modules of other flows: ${uses.join(', ') || '(none)'} (see FLOW_USES in .dependency-cruiser.cjs).`,
    from: { path: `^flows/${flow}/` },
    to: { path: '^flows/', pathNot: [`^flows/${flow}/`, ...FLOW_SHARED, ...uses.map((m) => `^flows/${esc(m)}$`)] },
  })),
  {
    name: 'every-flow-listed',
    severity: 'error',
    comment: 'A new flow folder is added to FLOW_USES in .dependency-cruiser.cjs (with the other flows it uses).',
    from: { path: '^flows/([^/]+)/', pathNot: `^flows/(${Object.keys(FLOW_USES).join('|')})/` },
    to: { path: '^flows/[^/]+/', pathNot: '^flows/$1/' },
  },
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // node_modules is a symlink in git worktrees: keep the link's path so 'node_modules/...' rules match.
    preserveSymlinks: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.d.ts', '.js', '.cjs', '.mjs', '.json'],
    },
    moduleSystems: ['es6', 'cjs'],
  },
};
