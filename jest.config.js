/** Unit specs live beside the code; e2e specs live in test/. Type checking is `npm run typecheck`. */
const transform = { '^.+\\.ts$': 'ts-jest' };
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
      setupFiles: ['reflect-metadata', '<rootDir>/test/helpers/quiet-nest-logs.ts'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      rootDir: '.',
      roots: ['<rootDir>/test'],
      testRegex: '\\.e2e-spec\\.ts$',
      transform,
      setupFiles: ['reflect-metadata', '<rootDir>/test/helpers/quiet-nest-logs.ts'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
    {
      displayName: 'scale',
      testEnvironment: 'node',
      rootDir: '.',
      roots: ['<rootDir>/test/scale'],
      testRegex: '\\.scale-spec\\.ts$',
      transform,
      setupFiles: ['reflect-metadata', '<rootDir>/test/helpers/quiet-nest-logs.ts'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
    {
      displayName: 'reliability',
      testEnvironment: 'node',
      rootDir: '.',
      roots: ['<rootDir>/test/reliability'],
      testRegex: '\\.reliability-spec\\.ts$',
      transform,
      setupFiles: ['reflect-metadata', '<rootDir>/test/helpers/quiet-nest-logs.ts'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
    {
      displayName: 'browser',
      testEnvironment: 'node',
      rootDir: '.',
      roots: ['<rootDir>/test/browser'],
      testRegex: '\\.browser-spec\\.ts$',
      transform,
      setupFiles: ['reflect-metadata', '<rootDir>/test/helpers/quiet-nest-logs.ts'],
      moduleFileExtensions: ['ts', 'js', 'json'],
    },
  ],
};
