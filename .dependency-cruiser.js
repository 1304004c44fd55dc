/**
 * Layering rules for src/ (npm run lint:deps, run by CI). Each top-level folder of src/ is a feature or a
 * ground-floor module; the rules keep them depending one way. Specs count: a test that reaches across a
 * boundary is a boundary crossed.
 */
const FEATURE = '^src/([^/]+)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-folder-cycles',
      severity: 'error',
      comment: 'The top-level folders of src/ depend one way: no cycle between them (say, ai -> realtime -> ai).',
      scope: 'folder',
      from: { path: '^src/[^/]+$' },
      to: { path: '^src/[^/]+$', circular: true },
    },
    {
      name: 'webhooks-is-intake-only',
      severity: 'error',
      comment: 'src/webhooks receives webhooks and nothing else; what others need of a delivery lives in src/deliveries.',
      from: { path: FEATURE, pathNot: '^src/webhooks/' },
      to: { path: '^src/webhooks/' },
    },
    {
      name: 'config-imports-no-feature',
      severity: 'error',
      comment: 'src/config is read by every feature, so it imports none (shared names live in src/config or src/common).',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/config/' },
    },
    {
      name: 'common-imports-only-config',
      severity: 'error',
      comment: 'src/common is the ground floor (errors, JSON types, logging): it may read configuration, nothing else of ours.',
      from: { path: '^src/common/' },
      to: { path: '^src/', pathNot: '^src/(common|config)/' },
    },
    {
      name: 'deliveries-owns-no-feature',
      severity: 'error',
      comment: 'src/deliveries owns the delivery tables; features use it, it uses none of them.',
      from: { path: '^src/deliveries/' },
      to: { path: '^src/', pathNot: '^src/(deliveries|database|common|config)/' },
    },
    {
      name: 'no-module-cycles',
      severity: 'error',
      comment: 'No import cycle between files either.',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
