// Lint: neostandard (the Fastify ecosystem's style, TypeScript included), run first by npm test.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/', 'coverage/', '.tap/', 'test/artifacts/', 'test/docs/snippets/', 'bench/profiles/']
  }),
  {
    rules: {
      // `void x` as a statement marks a deliberately unawaited promise, or in a type test an expression kept only for its type.
      'no-void': ['error', { allowAsStatement: true }]
    }
  },
  {
    files: ['types/*.test-d.ts'],
    rules: {
      // Type tests bind values and type parameters only to inspect their types (types/tsconfig.json sets noUnusedLocals false for the same reason).
      '@typescript-eslint/no-unused-vars': 'off'
    }
  }
]
