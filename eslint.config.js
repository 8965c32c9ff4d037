// @ts-check
// Type-aware linting: typescript-eslint's strict type-checked rules over the TypeScript program
// of tsconfig.json. typescript-eslint needs TypeScript's JavaScript API, which TypeScript 7 does
// not ship yet, so the package named `typescript` is Microsoft's TypeScript 6 compatibility
// package (@typescript/typescript6, used only by the linter) and `tsc` comes from TypeScript 7
// (installed as @typescript/native); see package.json.
import js from '@eslint/js'
import { defineConfig, globalIgnores } from 'eslint/config'
import tseslint from 'typescript-eslint'

export default defineConfig(
  globalIgnores([
    'node_modules/',
    'data/',
    '.cache/',
    '.scratch/',
    'console/dist/',
    'console/src/lib/api.gen.ts',
    'packages/client/src/api.gen.ts',
  ]),
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // The four rules this project relies on most: on, as errors, whatever the presets say.
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // node:test's describe() and it() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after'] },
          ],
        },
      ],
      // Numbers and booleans print as expected in messages; objects, null and undefined stay errors.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `async` marks a promise-returning contract (Fastify plugins and handlers, provider interfaces):
      // a throw becomes a rejection. An async function with nothing to await is not a fault.
      '@typescript-eslint/require-await': 'off',
      // `_name` marks a binding kept on purpose, e.g. a field dropped from an object by destructuring.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // `() => resolve()` as a callback is idiomatic; a void value used anywhere else is still an error.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Late binding between modules (`let x; … () => x …; x = create()`) reads before it assigns.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Number(row.n) on a database value is a guard: drivers return int8 and numeric as strings
      // unless a parser converts them, which the declared row type cannot show.
      '@typescript-eslint/no-unnecessary-type-conversion': 'off',
      // `import { type X } from 'lib'` still loads 'lib' under Node's type stripping: a library
      // loaded on first use (src/on-first-use.ts) must be imported with `import type` alone.
      '@typescript-eslint/no-import-type-side-effects': 'error',
    },
  },
  {
    // Tests (and the benchmark, which drives the service through their helpers) read JSON bodies
    // typed as JsonBody (test/helpers/json.ts) and check them with node:assert at run time; the
    // no-unsafe-* rules would ask for a static type on every response a test inspects.
    files: ['test/**/*.ts', 'src/**/*.test.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // after() hooks guard what a failed before() never assigned (`await server?.stop()`).
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    // The bench leaves nothing behind (no database, directory or process, also when a part
    // fails or is interrupted): each is acquired through bench/processes.ts into the part's
    // resources (benchResources), released however the part ends.
    files: ['bench/**/*.ts'],
    ignores: ['bench/processes.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...['node:fs', 'fs', 'node:fs/promises', 'fs/promises'].map((name) => ({
              name,
              importNames: ['mkdtempSync', 'mkdtemp'],
              message: 'benchDirectory(resources, prefix) (bench/processes.ts): removed when the part ends.',
            })),
            ...['../test/helpers/process.ts', '../../test/helpers/process.ts'].map((name) => ({
              name,
              importNames: ['spawnServer'],
              message: 'benchServer(resources, env) (bench/processes.ts): stopped when the part ends.',
            })),
          ],
        },
      ],
      // The same by call, whatever the import's form (a namespace or default import).
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'CallExpression[callee.name=/^mkdtemp(Sync)?$/], CallExpression[callee.property.name=/^mkdtemp(Sync)?$/]',
          message: 'benchDirectory(resources, prefix) (bench/processes.ts): removed when the part ends.',
        },
        {
          selector: "CallExpression[callee.name='spawnServer'], CallExpression[callee.property.name='spawnServer']",
          message: 'benchServer(resources, env) (bench/processes.ts): stopped when the part ends.',
        },
        {
          selector: 'Literal[value=/CREATE DATABASE/i], TemplateElement[value.raw=/CREATE DATABASE/i]',
          message: 'freshDatabase(resources, name) (bench/processes.ts): dropped when the part ends.',
        },
      ],
    },
  },
  {
    // Plain JavaScript (bin/, this file) is outside tsconfig.json's program: syntax rules only.
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
)
