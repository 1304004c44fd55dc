/** Unit specs live beside the code; e2e specs live in test/. Type checking is `npm run typecheck`. */
// Node 20.19+ loads ESM-only packages through require(); Jest's CommonJS runtime cannot, so the few ESM-only
// dependencies the app loads (content-disposition 3, under @fastify/static for the API docs) are transpiled.
const ESM_ONLY = ['content-disposition'];
const transform = {
  '^.+\\.ts$': 'ts-jest',
  [`/node_modules/(${ESM_ONLY.join('|')})/.+\\.js$`]: ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true } }],
};
const transformIgnorePatterns = [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`];
module.exports = {
  // Bounds whole e2e scenarios (booting processes, crash and restart); these are not performance assertions.
  testTimeout: 60_000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      rootDir: '.',
      roots: ['<rootDir>/src'],
      testRegex: '\\.spec\\.ts$',
      transform,
      transformIgnorePatterns,
      setupFiles: ['reflect-metadata'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      rootDir: '.',
      roots: ['<rootDir>/test'],
      testRegex: '\\.e2e-spec\\.ts$',
      transform,
      transformIgnorePatterns,
      setupFiles: ['reflect-metadata'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
    {
      displayName: 'scale',
      testEnvironment: 'node',
      rootDir: '.',
      roots: ['<rootDir>/test/scale'],
      testRegex: '\\.scale-spec\\.ts$',
      transform,
      transformIgnorePatterns,
      setupFiles: ['reflect-metadata'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
    {
      displayName: 'browser',
      testEnvironment: 'node',
      rootDir: '.',
      roots: ['<rootDir>/test/browser'],
      testRegex: '\\.browser-spec\\.ts$',
      transform,
      transformIgnorePatterns,
      setupFiles: ['reflect-metadata'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
  ],
};
