// ESLint, run by `npm run lint` (and so by `npm test`): the recommended rules of ESLint and
// typescript-eslint, without type information (fast: no second type check, tsc does that), plus a
// few that catch real mistakes in this code base. Formatting is Prettier's job (`prettier --check`).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'dist-demo/',
      'docs/api/',
      'bench/results/',
      'test-results/',
      'playwright-report/',
      'consumers/*/node_modules/',
      'consumers/*/dist/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.worker } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Unused names are mistakes, except the deliberate `_name` and rest siblings (`{ a, ...rest }`).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `import type` for types only, as `verbatimModuleSyntax` requires at build time.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
      // Loops that wait for a condition (`for (;;)`, `while (true)`) are how this code polls.
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // package.json says `"sideEffects": false`: a bundler may drop a module imported for its side
    // effects alone, so library code never imports one that way (README, "Using it").
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts', 'src/**/testing/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportDeclaration[specifiers.length=0]',
          message: 'package.json declares "sideEffects": false: import what you use by name, not a module for its side effects',
        },
      ],
    },
  },
  {
    // Node scripts: the build, the runners of tests, benchmarks and consumer apps, and configs.
    files: ['**/*.mjs', 'scripts/**', 'consumers/*/build.mjs', '*.config.ts', '*.config.js'],
    languageOptions: { globals: { ...globals.node } },
  },
);
