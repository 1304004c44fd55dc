import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateEnvironment } from '../src/config/environment';
import { REPO_ROOT } from './helpers/app-process';
import { ComposeRefusal, composeFile, EXPORTED, resolveComposeEnvironment } from './helpers/compose';

/**
 * No Docker engine runs here: the compose file and Dockerfile are kept correct by this review-as-code, with
 * compose's own interpolation rules applied to the committed `.env` (the scale suite boots the app with it).
 */
const services = composeFile().services;
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

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
    const env = resolveComposeEnvironment(EXPORTED, name);
    expect(env).toMatchObject({ NODE_ENV: 'production', MODELRIVER_SANDBOX: 'false', TRUST_PROXY: 'uniquelocal', ADMIN_TOKEN: '' });
    expect(env.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\//);
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    // The app's own validation accepts this environment (production rules included).
    expect(() => validateEnvironment(env)).not.toThrow();
    expect(app.healthcheck?.test.join(' ')).toContain('/health/ready');
    expect(app.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
  });

  it('refuses to start without the exported secrets: the committed .env supplies none of them', () => {
    expect(() => resolveComposeEnvironment({})).toThrow(ComposeRefusal);
    try {
      resolveComposeEnvironment({});
    } catch (error) {
      expect((error as ComposeRefusal).missing.map((m) => m.split(':')[0])).toEqual(['MODELRIVER_API_KEY', 'MODELRIVER_WEBHOOK_SECRET', 'REALTIME_TOKEN_SECRET']);
    }
    const { REALTIME_TOKEN_SECRET: _left, ...twoOfThree } = EXPORTED;
    expect(() => resolveComposeEnvironment(twoOfThree)).toThrow(/REALTIME_TOKEN_SECRET/);
  });

  it('passes the exported secrets through untouched, and enables admin only when ADMIN_TOKEN is exported', () => {
    expect(resolveComposeEnvironment(EXPORTED)).toMatchObject({ ...EXPORTED, ADMIN_TOKEN: '' });
    const token = 'compose-admin-token-0123456789abcdef';
    const env = resolveComposeEnvironment({ ...EXPORTED, ADMIN_TOKEN: token });
    expect(env.ADMIN_TOKEN).toBe(token);
    expect(validateEnvironment(env).ADMIN_TOKEN).toBe(token);
  });

  it('puts deploy/nginx.conf in front of both instances (test/scale/nginx.scale-spec.ts runs that file against two)', () => {
    expect(services.lb.depends_on).toEqual({ app1: { condition: 'service_healthy' }, app2: { condition: 'service_healthy' } });
    expect(services.lb.volumes).toContain('./deploy/nginx.conf:/etc/nginx/nginx.conf:ro');
    const nginx = readFileSync(join(REPO_ROOT, 'deploy', 'nginx.conf'), 'utf8');
    for (const upstream of ['app', 'webhooks', 'realtime']) expect(nginx).toMatch(new RegExp(`upstream ${upstream} \\{[^}]*server app1:3000[ ;][^}]*server app2:3000[ ;]`));
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

  it('uses a Node LTS the engines field names, and never copies an .env file into the image', () => {
    const engines = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const majors = [...engines.matchAll(/\^(\d+)\./g)].map((m) => Number(m[1]));
    expect(majors).toEqual([20, 22, 24]);
    for (const stage of stages) expect(Number(/^node:(\d+)/.exec(stage)![1])).toBe(24);
    expect(dockerfile).not.toMatch(/COPY[^\n]*\.env/);
    const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');
    expect(dockerignore).toMatch(/^\.env$/m);
    expect(dockerignore).toMatch(/^\.env\.\*$/m);
  });

  it('can run alone on SQLite: a data directory the app user owns, kept in a volume', () => {
    const runtime = stages.at(-1)!;
    expect(runtime).toMatch(/^WORKDIR \/app$/m);
    expect(runtime).toMatch(/mkdir -p \/app\/data && chown node:node \/app\/data/);
    expect(runtime).toMatch(/^VOLUME \["\/app\/data"\]$/m);
    // The default DATABASE_URL lives in that directory, relative to the working directory.
    expect(validateEnvironment({ ...EXPORTED, NODE_ENV: 'production' }).DATABASE_URL).toBe('sqlite:./data/modelriver.db');
    expect(runtime.indexOf('chown node:node /app/data')).toBeLessThan(runtime.indexOf('USER node'));
  });
});
