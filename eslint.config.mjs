import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeGlobals = {
  process: 'readonly',
  Buffer: 'readonly',
  console: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setImmediate: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
  URL: 'readonly',
  __dirname: 'readonly',
  __filename: 'readonly',
  require: 'readonly',
  module: 'writable',
  globalThis: 'readonly',
};

export default tseslint.config(
  { ignores: ['dist/', 'build/', '**/node_modules/', 'profiles/', '.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: nodeGlobals },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // The context hook's wrappers need both the context manager's `this` and the hook.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['hook', 'bridge'] }],
    },
  },
  {
    // Plain CommonJS scripts: examples and child-process fixtures.
    files: ['**/*.cjs', 'test/fixtures/**/*.js', 'bench/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
);
