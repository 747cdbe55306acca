// ESLint flat config: the recommended JS + typescript-eslint rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // src/**/*.as.ts: AssemblyScript (compiled to WebAssembly by asc, typed by its own standard library).
    ignores: ['dist/', 'node_modules/', 'models/', '.work/', 'coverage/', 'build/', 'src/**/*.as.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The fleet page's browser script (src/fleet/assets, plain JS served as is).
    files: ['src/fleet/assets/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'fetch',
          'FormData',
          'URLSearchParams',
          'CSS',
          'EventSource',
          'setTimeout',
        ].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
