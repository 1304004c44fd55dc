import { ConfigurationError, validateEnvironment } from './environment';

const valid = {
  REALTIME_TOKEN_SECRET: 'realtime-secret-0123456789-abcdefghijkl',
  MODELRIVER_API_KEY: 'mr_live_abc',
  MODELRIVER_WEBHOOK_SECRET: 'whsec_0123456789abcdef, whsec_older_secret_value',
};

const problems = (raw: Record<string, unknown>): string => {
  try {
    validateEnvironment(raw);
    return '';
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
};

describe('validateEnvironment', () => {
  it('applies defaults and parses lists and numbers', () => {
    const env = validateEnvironment({ ...valid, PORT: '8080', WEBHOOK_SIGNATURE_SCHEMES: 'raw, ts_raw' });
    expect(env).toMatchObject({
      PORT: 8080,
      DATABASE_URL: 'sqlite:./data/modelriver.db',
      WEBHOOK_MAX_BODY_BYTES: 1048576,
      WEBHOOK_SIGNATURE_SCHEMES: ['raw', 'ts_raw'],
      MODELRIVER_WEBHOOK_SECRET: ['whsec_0123456789abcdef', 'whsec_older_secret_value'],
    });
  });

  it('treats empty strings as unset', () => {
    expect(validateEnvironment({ ...valid, PORT: '' }).PORT).toBe(3000);
  });

  it('derives the intake backlog limit from the callback budget unless set', () => {
    expect(validateEnvironment(valid).INTAKE_MAX_BACKLOG_AGE_MS).toBeUndefined();
    expect(validateEnvironment({ ...valid, INTAKE_MAX_BACKLOG_AGE_MS: '0' }).INTAKE_MAX_BACKLOG_AGE_MS).toBe(0);
  });

  // Idle keep-alive connections kept 72 s (1 s – 1 h); plain WebSocket listeners pinged every 25 s (0.1 s – 5 min).
  it.each([
    ['HTTP_KEEP_ALIVE_TIMEOUT_MS', 72_000, 1000, 3_600_000],
    ['REALTIME_PING_INTERVAL_MS', 25_000, 100, 300_000],
  ] as const)('%s: %d unless told otherwise, an integer from %d to %d', (name, fallback, min, max) => {
    expect(validateEnvironment(valid)[name]).toBe(fallback);
    expect(validateEnvironment({ ...valid, [name]: String(max) })[name]).toBe(max);
    expect(problems({ ...valid, [name]: String(min - 1) })).toContain(`${name} must not be less than ${min} (got "${min - 1}")`);
    expect(problems({ ...valid, [name]: '25s' })).toContain(`${name} must be an integer number (got "25s")`);
    expect(problems({ ...valid, [name]: String(max + 1) })).toContain(`${name} must not be greater than ${max}`);
  });

  it('uses all four signature schemes by default', () => {
    expect(validateEnvironment(valid).WEBHOOK_SIGNATURE_SCHEMES).toEqual(['raw', 'ts_raw', 'ts_data', 'json']);
  });

  it.each([
    ['a missing API key', { MODELRIVER_API_KEY: undefined }, 'MODELRIVER_API_KEY'],
    ['a missing webhook secret', { MODELRIVER_WEBHOOK_SECRET: undefined }, 'MODELRIVER_WEBHOOK_SECRET'],
    ['a short webhook secret', { MODELRIVER_WEBHOOK_SECRET: 'short' }, 'MODELRIVER_WEBHOOK_SECRET'],
    ['a non-numeric port', { PORT: 'eighty' }, 'PORT'],
    ['an unknown scheme', { WEBHOOK_SIGNATURE_SCHEMES: 'raw,md5' }, 'WEBHOOK_SIGNATURE_SCHEMES'],
    ['a bad database URL', { DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    ['a prepared-statements flag that is not true or false', { DATABASE_PREPARED_STATEMENTS: 'yes' }, 'DATABASE_PREPARED_STATEMENTS'],
    ['a bad log level', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    ['a tiny body limit', { WEBHOOK_MAX_BODY_BYTES: '10' }, 'WEBHOOK_MAX_BODY_BYTES'],
    ['a negative backlog limit', { INTAKE_MAX_BACKLOG_AGE_MS: '-1' }, 'INTAKE_MAX_BACKLOG_AGE_MS'],
    ['a backlog limit past the callback budget', { INTAKE_MAX_BACKLOG_AGE_MS: '250000' }, 'INTAKE_MAX_BACKLOG_AGE_MS'],
  ])('fails on %s, naming the variable', (_name, change, variable) => {
    expect(problems({ ...valid, ...change })).toContain(variable);
  });

  it.each<[string, string[]]>([
    ['10.0.0.1', ['10.0.0.1']],
    ['10.0.0.0/8, fd00::/8', ['10.0.0.0/8', 'fd00::/8']],
    ['uniquelocal', ['uniquelocal']],
    ['loopback,10.1.2.3', ['loopback', '10.1.2.3']],
  ])('accepts TRUST_PROXY=%p as %p', (raw, parsed) => {
    expect(validateEnvironment({ ...valid, TRUST_PROXY: raw }).TRUST_PROXY).toEqual(parsed);
  });

  it.each(['true', 'everyone', '10.0.0.0/33', 'proxy.local', '1,10.0.0.1'])('refuses TRUST_PROXY=%p', (raw) => {
    expect(problems({ ...valid, TRUST_PROXY: raw })).toContain('TRUST_PROXY must be a comma-separated list of proxy addresses');
  });

  // Fastify 5.12.1 and later ignore a hop count (it would believe any client that connects directly): refusing it at
  // boot beats every client behind the proxy silently sharing the proxy's rate limit.
  it.each(['1', '0', '11'])('refuses the hop count TRUST_PROXY=%p, saying what to set instead', (raw) => {
    expect(problems({ ...valid, TRUST_PROXY: raw })).toContain('TRUST_PROXY no longer takes a hop count');
  });

  it('says once what is wrong with each variable, and that a missing one is required', () => {
    const message = problems({ PORT: 'abc', REALTIME_TOKEN_SECRET: valid.REALTIME_TOKEN_SECRET });
    expect(message.split('\n')).toEqual([
      'Invalid configuration:',
      '  - PORT must be an integer number (got "abc")',
      '  - MODELRIVER_API_KEY is required',
      '  - MODELRIVER_WEBHOOK_SECRET is required',
    ]);
  });

  it('never repeats a secret it refuses', () => {
    expect(problems({ ...valid, MODELRIVER_WEBHOOK_SECRET: 'short-secret' })).not.toContain('short-secret');
  });

  it('refuses the committed development values in production', () => {
    const message = problems({
      NODE_ENV: 'production',
      MODELRIVER_API_KEY: 'mr_test_dev-only-api-key',
      MODELRIVER_WEBHOOK_SECRET: 'whsec_real_secret_0123456789,whsec_dev-only-webhook-secret',
      REALTIME_TOKEN_SECRET: 'realtime_dev-only-subscribe-token-secret',
    });
    expect(message).toContain('MODELRIVER_API_KEY holds a committed development value');
    expect(message).toContain('MODELRIVER_WEBHOOK_SECRET holds a committed development value');
  });

  it('accepts the same development values outside production', () => {
    expect(() =>
      validateEnvironment({ ...valid, MODELRIVER_API_KEY: 'mr_test_dev-only-api-key', MODELRIVER_WEBHOOK_SECRET: 'whsec_dev-only-webhook-secret' }),
    ).not.toThrow();
  });

  it.each(['7 days', '7', '1w', '-1d', '1.5h', 'never'])('refuses DELIVERY_RETENTION=%p and FAILED_RETENTION=%p with the accepted forms', (raw) => {
    expect(problems({ ...valid, DELIVERY_RETENTION: raw })).toContain('DELIVERY_RETENTION must be a duration such as 7d, 36h, 15m or 30s, or off');
    expect(problems({ ...valid, FAILED_RETENTION: raw })).toContain('FAILED_RETENTION must be a duration such as 30d, 36h, 15m or 30s, or off');
  });

  it('keeps completed deliveries 7 days and failed ones 30 days unless told otherwise', () => {
    expect(validateEnvironment(valid)).toMatchObject({ DELIVERY_RETENTION: '7d', FAILED_RETENTION: '30d' });
    expect(validateEnvironment({ ...valid, DELIVERY_RETENTION: '30s', FAILED_RETENTION: 'off' })).toMatchObject({ DELIVERY_RETENTION: '30s', FAILED_RETENTION: 'off' });
  });

  it('requires at least 24h of retention in production, where a deleted delivery could be redelivered and run again', () => {
    const production = { ...valid, NODE_ENV: 'production' };
    expect(problems({ ...production, DELIVERY_RETENTION: '23h' })).toContain(
      'DELIVERY_RETENTION must be at least 24h in production: ModelRiver retries a webhook for 3 h 42 min, and a deleted delivery is no longer deduplicated (got 23h)',
    );
    expect(problems({ ...production, FAILED_RETENTION: '90m' })).toContain('FAILED_RETENTION must be at least 24h in production');
    expect(problems({ ...production, DELIVERY_RETENTION: '24h', FAILED_RETENTION: '1d' })).toBe('');
    expect(problems({ ...production, DELIVERY_RETENTION: 'off' })).toBe('');
  });
});
