import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT } from './app-process';
import { waitFor } from './create-test-app';

/** Debian's nginx (`apt-get install nginx`; .ci/run installs it), or NGINX_PATH. */
export const NGINX_PATH = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

export interface NginxProcess {
  url: string;
  /** What nginx wrote to stderr (its error log). */
  output(): string;
  stop(): Promise<void>;
}

/** Replaces every `from`, of which there must be one at least (or exactly `times`): a change to deploy/nginx.conf that this helper no longer fits fails loudly. */
function replaceAll(text: string, from: string, to: string, times?: number): string {
  const found = text.split(from).length - 1;
  if (found === 0 || (times !== undefined && found !== times)) throw new Error(`deploy/nginx.conf: expected ${times ?? 'some'} × "${from}", found ${found}`);
  return text.replaceAll(from, to);
}

/**
 * deploy/nginx.conf as docker compose mounts it, run on this machine: the compose host names `app1:3000` and
 * `app2:3000` become the given instances, `listen 80` a free loopback port, and the files nginx writes (pid, temp
 * files) go to a temporary directory. Nothing else of the file changes.
 */
export async function startNginx(instances: { app1: string; app2: string }): Promise<NginxProcess> {
  if (!existsSync(NGINX_PATH)) throw new Error(`nginx not found at ${NGINX_PATH}: apt-get install nginx, or set NGINX_PATH`);
  const dir = mkdtempSync(join(tmpdir(), 'mr-nginx-'));
  // Started as root, nginx's workers run as an unprivileged user, and must reach the temp paths (nginx owns those).
  chmodSync(dir, 0o755);
  const port = await freePort();
  let conf = readFileSync(join(REPO_ROOT, 'deploy', 'nginx.conf'), 'utf8');
  conf = replaceAll(conf, 'server app1:3000', `server ${instances.app1}`);
  conf = replaceAll(conf, 'server app2:3000', `server ${instances.app2}`);
  conf = replaceAll(conf, 'listen 80;', `listen 127.0.0.1:${port};`, 1);
  const files = ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `${kind === 'body' ? 'client_body' : kind}_temp_path ${join(dir, kind)};`);
  conf = replaceAll(conf, 'http {', `http {\n  access_log off;\n  ${files.join('\n  ')}`, 1);
  writeFileSync(join(dir, 'nginx.conf'), conf);

  let output = '';
  const child: ChildProcess = spawn(
    NGINX_PATH,
    ['-e', 'stderr', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log stderr warn;`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  // A graceful stop (SIGQUIT) waits for open WebSockets; past 5 s they are cut.
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGQUIT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'nginx to answer',
      async () => {
        if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${output}`);
        // Any answer will do: nginx is up (what stands behind it may refuse on purpose).
        const answer = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
        return answer ? true : undefined;
      },
      10_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, output: () => output, stop };
}
