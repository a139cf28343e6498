# orval 7 `client: 'fetch'` (clients/typescript/orval.config.ts), type-checked with tsc --strict with
# its driver, then the first session: clients/typescript's `npm run e2e:orval`
# (clients/typescript/e2e-orval.ts, docs/clients-typescript.md). Generates into
# clients/typescript/generated/orval (git-ignored), not CLIENTS_OUT.
cd clients/typescript && exec npm run --silent e2e:orval
