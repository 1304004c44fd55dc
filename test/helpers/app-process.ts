import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BASE_TEST_ENV } from './create-test-app';

export const REPO_ROOT = join(__dirname, '..', '..');

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Every port freePort has given out in this process. */
const givenOut = new Set<number>();

/**
 * A port nothing listens on now, and one this process has not been given before: the system may hand out a port it
 * just took back again, and an app's PORT and SANDBOX_PORT asked for one after the other then collide (EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await ephemeralPort();
    if (!givenOut.has(port)) {
      givenOut.add(port);
      return port;
    }
  }
  throw new Error('no port this process has not used already: 100 tries');
}

export interface AppProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  /** false: without the test defaults (BASE_TEST_ENV). */
  baseEnv?: boolean;
  /** Run with exactly `env` (and PATH), from `cwd` (default: the repository root, so `.env` applies). */
  isolated?: { cwd: string };
}

/** Runs the built app (`node dist/main.js`, the production start) from the repository root, so `.env` applies. */
export function spawnApp(env: Record<string, string>, options: SpawnOptions = {}): AppProcess {
  let output = '';
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'main.js')], {
    cwd: options.isolated?.cwd ?? REPO_ROOT,
    env: options.isolated
      ? { PATH: process.env.PATH ?? '', ...env }
      : { ...process.env, ...(options.baseEnv === false ? {} : BASE_TEST_ENV), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    url: `http://127.0.0.1:${env.PORT}`,
    output: () => output,
    exited,
    kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Starts the built app and waits (bounded) until it answers HTTP. */
export async function startAppProcess(env: Record<string, string>, options: SpawnOptions = {}): Promise<AppProcess> {
  const app = spawnApp(env, options);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (app.child.exitCode !== null) throw new Error(`app exited during start:\n${app.output()}`);
    try {
      await fetch(`${app.url}/`, { signal: AbortSignal.timeout(500) });
      return app;
    } catch {
      if (Date.now() > deadline) {
        await app.kill();
        throw new Error(`app did not start in time:\n${app.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
