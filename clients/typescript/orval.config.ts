// orval with its fetch client (`client: 'fetch'`, the option orval's docs name for a client on
// the Fetch API with no dependency), from the live server's /openapi.json. `baseUrl` is orval's
// documented option for the server's origin: the generated functions fetch `${baseUrl}/entries`,
// and Node's fetch needs an absolute URL. Everything else is orval's default.
import { defineConfig } from 'orval';

const url = process.env.DATASET_API_URL;
if (!url) {
  throw new Error('DATASET_API_URL is not set (e.g. http://127.0.0.1:8000)');
}
const origin = url.replace(/\/+$/, '');

export default defineConfig({
  dataset: {
    input: `${origin}/openapi.json`, // the live server's contract, not the file
    output: {
      target: 'generated/orval/api.ts', // git-ignored
      client: 'fetch',
      baseUrl: origin,
    },
  },
});
