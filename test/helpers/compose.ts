import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { parse } from 'yaml';
import { REPO_ROOT } from './app-process';

export type ComposeService = {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
};

/** What an operator exports before `docker compose up` (placeholders, not real secrets). */
export const EXPORTED = {
  MODELRIVER_API_KEY: 'mr_live_compose_test_key',
  MODELRIVER_WEBHOOK_SECRET: 'whsec_compose_test_secret_0123456789',
  REALTIME_TOKEN_SECRET: 'compose_test_realtime_secret_0123456789abcdef',
};

/** docker-compose.yml with its YAML merge keys applied, uninterpolated. */
export const composeFile = () =>
  parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };

/** A `${…:?message}` whose variable is unset or empty: docker compose refuses to start with these messages. */
export class ComposeRefusal extends Error {
  constructor(readonly missing: string[]) {
    super(`docker compose would refuse to start: ${missing.join('; ')}`);
  }
}

/**
 * docker compose's interpolation of one value: `$$` is a dollar, `${VAR}` / `$VAR`, `${VAR:-default}` (unset or
 * empty), `${VAR-default}` (unset), `${VAR:?message}` (unset or empty: refuse), `${VAR?message}` (unset: refuse).
 * Variables come from the shell first, then the project's `.env` file, as compose reads them.
 */
function interpolate(value: string, variables: Record<string, string | undefined>, missing: string[]): string {
  return value.replace(/\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}|\$(\w+)/g, (match, braced?: string, colon?: string, kind?: string, rest?: string, bare?: string) => {
    if (match === '$$') return '$';
    const name = braced ?? bare!;
    const current = variables[name];
    const absent = current === undefined || (colon === ':' && current === '');
    if (kind === '-') return absent ? rest! : current;
    if (kind === '?') {
      if (absent) missing.push(`${name}: ${rest || 'required'}`);
      return current ?? '';
    }
    return current ?? '';
  });
}

/**
 * The environment each app service of docker-compose.yml gets, resolved as `docker compose up` resolves it from
 * `shell` (the operator's exported variables) and the committed `.env`. Throws ComposeRefusal where compose would.
 */
export function resolveComposeEnvironment(shell: Record<string, string>, service = 'app1'): Record<string, string> {
  const dotenv = parseEnv(readFileSync(join(REPO_ROOT, '.env'), 'utf8')) as Record<string, string>;
  const variables = { ...dotenv, ...shell };
  const missing: string[] = [];
  const environment = composeFile().services[service].environment ?? {};
  const resolved = Object.fromEntries(Object.entries(environment).map(([name, value]) => [name, interpolate(String(value), variables, missing)]));
  if (missing.length > 0) throw new ComposeRefusal(missing);
  return resolved;
}
