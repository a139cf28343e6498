// Small assertion helpers shared by the two drivers: every failure names the step and exits 1.
import { isDeepStrictEqual } from 'node:util';

export class E2EFailure extends Error {}

export function fail(message: string): never {
  throw new E2EFailure(message);
}

export function env(name: string): string {
  const value = process.env[name];
  if (!value) fail(`${name} is not set`);
  return value;
}

export function expectEqual(step: string, actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) {
    fail(`${step}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

export function expectTrue(step: string, condition: boolean, detail: unknown = undefined): void {
  if (!condition) fail(`${step}: check failed${detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`);
}

/** The shape both generated clients return: the parsed body (or the error body) and the Response. */
interface Result<T> {
  data?: T;
  error?: unknown;
  response?: Response;
}

/** The body of an answer that must have `status`; anything else stops the run with the server's words. */
export function expectStatus<T>(step: string, result: Result<T>, status: number): T {
  const got = result.response?.status;
  if (got === undefined) fail(`${step}: no response: ${describe(result.error)}`);
  if (got !== status) {
    fail(`${step}: expected HTTP ${status}, got ${got}: ${JSON.stringify(result.error ?? result.data)}`);
  }
  if (result.data === undefined || result.data === null) {
    fail(`${step}: HTTP ${status} without a body`);
  }
  return result.data;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return JSON.stringify(error);
}

/** Runs a driver: prints each step, exits 0 when it ends, 1 with the failure otherwise. */
export function run(name: string, main: (log: (line: string) => void) => Promise<void>): void {
  const started = Date.now();
  const log = (line: string) => console.log(`[${name}] ${line}`);
  main(log).then(
    () => log(`OK in ${Date.now() - started} ms`),
    (err: unknown) => {
      const message = err instanceof E2EFailure ? err.message : err instanceof Error ? `${describe(err)}\n${err.stack}` : String(err);
      console.error(`[${name}] FAILED: ${message}`);
      process.exitCode = 1;
    },
  );
}
