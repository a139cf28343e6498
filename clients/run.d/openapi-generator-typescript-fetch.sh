# OpenAPI Generator `-g typescript-fetch` (its one documented option for ESM, importFileExtension=.js),
# type-checked with tsc --strict with its driver, then the first session: clients/typescript's
# `npm run e2e:oag` (clients/typescript/e2e-oag.ts, docs/clients-typescript.md). Generates into
# clients/typescript/generated/oag (git-ignored), not CLIENTS_OUT.
export PATH="$CLIENTS_VENV/bin:$PATH" # openapi-generator-cli, from clients/openapi-generator/requirements.txt
cd clients/typescript && exec npm run --silent e2e:oag
