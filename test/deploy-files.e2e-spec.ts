import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateEnvironment } from '../src/config/environment';
import { REPO_ROOT } from './helpers/app-process';

/** No Docker engine runs here: the compose file and Dockerfile are kept correct by this review-as-code. */
type Service = { image?: string; build?: string; command?: string[]; environment?: Record<string, string>; healthcheck?: { test: string[] }; depends_on?: Record<string, { condition: string }>; volumes?: string[]; ports?: string[] };

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

/** `${VAR:?msg}` / `${VAR:-default}` as compose resolves them, with placeholders for required secrets. */
const resolve = (env: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(env).map(([name, value]) => [
      name,
      String(value).replace(/\$\{(\w+):([?-])([^}]*)\}/g, (_m, variable: string, kind: string, rest: string) =>
        kind === '-' ? rest : `compose-test-${variable.toLowerCase()}-0123456789abcdef0123456789`,
      ),
    ]),
  );

describe('docker-compose.yml', () => {
  it('has postgres, redis, two app instances and a load balancer', () => {
    expect(Object.keys(services).sort()).toEqual(['app1', 'app2', 'lb', 'postgres', 'redis']);
  });

  it('runs Redis with AOF on and noeviction, and every stateful service with a volume and a health check', () => {
    expect(services.redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']));
    for (const name of ['postgres', 'redis']) {
      expect(services[name].volumes?.length).toBeGreaterThan(0);
      expect(services[name].healthcheck?.test.length).toBeGreaterThan(0);
    }
  });

  it.each(['app1', 'app2'])('%s is the scale profile in production, healthy only when ready, after its backends', (name) => {
    const app = services[name];
    expect(app.build).toBe('.');
    const env = resolve(app.environment!);
    expect(env).toMatchObject({ NODE_ENV: 'production', MODELRIVER_SANDBOX: 'false' });
    expect(env.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\//);
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    // The app's own validation accepts this environment (production rules included).
    expect(() => validateEnvironment(env)).not.toThrow();
    expect(app.healthcheck?.test.join(' ')).toContain('/health/ready');
    expect(app.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
  });

  it('requires the secrets instead of shipping defaults', () => {
    for (const name of ['MODELRIVER_API_KEY', 'MODELRIVER_WEBHOOK_SECRET', 'REALTIME_TOKEN_SECRET']) {
      expect(services.app1.environment![name]).toMatch(new RegExp(`^\\$\\{${name}:\\?`));
    }
  });

  it('balances both instances with WebSocket upgrades passed through', () => {
    expect(services.lb.depends_on).toEqual({ app1: { condition: 'service_healthy' }, app2: { condition: 'service_healthy' } });
    const nginx = readFileSync(join(REPO_ROOT, 'deploy', 'nginx.conf'), 'utf8');
    expect(nginx).toMatch(/server app1:3000;[\s\S]*server app2:3000;/);
    expect(nginx).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(nginx).toContain('ip_hash;');
  });
});

describe('Dockerfile', () => {
  const stages = dockerfile.split(/^FROM /m).slice(1);

  it('is multi-stage and runs as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const runtime = stages.at(-1)!;
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).not.toMatch(/^USER root$/m);
    expect(runtime).toMatch(/CMD \["node", "dist\/main.js"\]/);
    expect(runtime).toContain('/health/ready');
  });

  it('uses a Node version the engines field accepts, and never copies .env into the image', () => {
    const engines = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20.19.0');
    for (const stage of stages) expect(Number(/^node:(\d+)/.exec(stage)![1])).toBeGreaterThanOrEqual(22);
    expect(dockerfile).not.toMatch(/COPY[^\n]*\.env/);
    expect(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')).toMatch(/^\.env$/m);
  });
});
