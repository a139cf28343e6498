// @hey-api/openapi-ts with its defaults: the default plugins (@hey-api/typescript, @hey-api/sdk)
// and the default client (@hey-api/client-fetch, bundled inside the generated output since
// openapi-ts v0.73, so no client package to install). Only the input and the output are named.
import { defineConfig } from '@hey-api/openapi-ts';

const url = process.env.DATASET_API_URL;
if (!url) {
  throw new Error('DATASET_API_URL is not set (e.g. http://127.0.0.1:8000)');
}

export default defineConfig({
  input: `${url.replace(/\/+$/, '')}/openapi.json`, // the live server's contract, not the file
  output: 'generated/hey', // git-ignored
});
