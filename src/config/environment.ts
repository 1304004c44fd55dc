import { plainToInstance, Transform, Type } from 'class-transformer';
import { isIP } from 'node:net';
import {
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  registerDecorator,
  validateSync,
} from 'class-validator';
import { DURATION_OR_OFF_PATTERN, parseDuration } from './duration';
import { SIGNATURE_SCHEMES, SignatureScheme } from './signature-schemes';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** ModelRiver retries a webhook for 3 h 42 min; a purged delivery's dedupe record must outlive that, with room. */
export const PRODUCTION_MIN_RETENTION_MS = 24 * 3_600_000;

/** A retention setting in milliseconds; undefined means `off` (kept for ever). */
export const retentionMs = (value: string): number | undefined => (value === 'off' ? undefined : parseDuration(value));

/** Values committed in `.env` carry this marker; production refuses to boot with any of them. */
export const DEV_ONLY_MARKER = 'dev-only';

/** proxy-addr's named ranges: 127.0.0.0/8 and ::1; 169.254.0.0/16 and fe80::/10; the private 10/8, 172.16/12, 192.168/16 and fc00::/7. */
const NAMED_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

/** A list of IP addresses, CIDR ranges and named ranges. A hop count is refused with its own reason. */
function IsTrustProxy(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isTrustProxy',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: ({ value }) =>
          Array.isArray(value) && value.length === 1 && /^\d+$/.test(String(value[0]))
            ? '$property no longer takes a hop count: a count believes whoever connects directly (Fastify 5.12.1 and later ignore it); list the proxies\' addresses or ranges instead (uniquelocal for a private network, as in docker-compose.yml)'
            : '$property must be a comma-separated list of proxy addresses, CIDR ranges or loopback, linklocal, uniquelocal',
      },
      validator: {
        validate: (value: unknown) =>
          Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string' && (NAMED_RANGES.includes(item) || isAddressOrRange(item))),
      },
    });
}

function isAddressOrRange(item: string): boolean {
  const [address, prefix, ...rest] = item.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

const splitList = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0)
    : value;

/**
 * Every environment variable the service reads, with its default. Validation errors name the variable,
 * so a bad deployment fails at boot with a message an operator can act on.
 */
export class EnvironmentVariables {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsString()
  @IsNotEmpty()
  HOST = '0.0.0.0';

  @Matches(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, {
    message: 'DATABASE_URL must be sqlite:<path> or postgres://...',
  })
  DATABASE_URL = 'sqlite:./data/modelriver.db';

  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(60_000)
  DATABASE_BUSY_TIMEOUT_MS = 5000;

  /** PostgreSQL connections per instance (scale profile). */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  DATABASE_POOL_SIZE = 10;

  /**
   * PostgreSQL: run the per-delivery statements as named (server-side prepared) statements. `false` for a pooler
   * that hands one server connection to many clients without tracking them (PgBouncer before 1.21, or with
   * max_prepared_statements = 0, in transaction mode).
   */
  @IsIn(['true', 'false'])
  DATABASE_PREPARED_STATEMENTS: 'true' | 'false' = 'true';

  /** Scale profile: BullMQ, the socket.io Redis adapter and shared realtime state. */
  @IsOptional()
  @Matches(/^rediss?:\/\/.+/, { message: 'REDIS_URL must be redis://... or rediss://...' })
  REDIS_URL?: string;

  @IsIn(['FULL', 'NORMAL'])
  SQLITE_SYNCHRONOUS: 'FULL' | 'NORMAL' = 'FULL';

  @IsString()
  @IsNotEmpty()
  MODELRIVER_API_KEY: string;

  @Transform(splitList)
  @IsString({ each: true })
  @IsNotEmpty({ each: true })
  @Matches(/^.{16,}$/, { each: true, message: 'each MODELRIVER_WEBHOOK_SECRET must be at least 16 characters' })
  MODELRIVER_WEBHOOK_SECRET: string[];

  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  MODELRIVER_BASE_URL = 'https://api.modelriver.com';

  @Type(() => Number)
  @IsInt()
  @Min(1024)
  @Max(16 * 1024 * 1024)
  WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;

  @Transform(splitList)
  @IsIn(SIGNATURE_SCHEMES, { each: true })
  WEBHOOK_SIGNATURE_SCHEMES: SignatureScheme[] = [...SIGNATURE_SCHEMES];

  /**
   * For timestamped schemes (ts_raw, ts_data): refuse a signature whose timestamp is further than this from now.
   * Unset (the default): no freshness check, since ModelRiver's retries span 3 h 42 min and may reuse the
   * timestamp; the dedupe record is the replay defence then.
   */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(7 * 24 * 3600)
  WEBHOOK_TIMESTAMP_TOLERANCE_S?: number;

  /** Webhook types accepted for processing; authentic deliveries of other types are quarantined. */
  @Transform(splitList)
  @Matches(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/, { each: true, message: 'each WEBHOOK_EVENT_TYPES entry must look like task.<name>' })
  WEBHOOK_EVENT_TYPES: string[] = ['task.ai_generated', 'task.completed'];

  /**
   * Admission control: while the oldest delivery that is due and not yet claimed has waited longer than this,
   * new webhooks get 503 + Retry-After (ModelRiver retries later) instead of joining a backlog that would miss
   * the callback window. 0 disables it. Unset: a quarter of CALLBACK_BUDGET_MS (60 s by default).
   */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(290_000)
  INTAKE_MAX_BACKLOG_AGE_MS?: number;

  /**
   * How long a completed delivery (with its callback attempts and audit rows) is kept, from its last change;
   * `off` keeps it for ever. Deleting it also forgets its dedupe record: production requires at least 24h.
   */
  @Matches(DURATION_OR_OFF_PATTERN, { message: 'DELIVERY_RETENTION must be a duration such as 7d, 36h, 15m or 30s, or off' })
  DELIVERY_RETENTION = '7d';

  /** The same for dead and quarantined deliveries, which an operator may still want to replay. */
  @Matches(DURATION_OR_OFF_PATTERN, { message: 'FAILED_RETENTION must be a duration such as 30d, 36h, 15m or 30s, or off' })
  FAILED_RETENTION = '30d';

  /** Enables /admin (bearer token); unset, the admin routes answer 404. */
  @IsOptional()
  @Matches(/^.{24,}$/, { message: 'ADMIN_TOKEN must be at least 24 characters' })
  ADMIN_TOKEN?: string;

  @Type(() => Number)
  @IsInt()
  @Min(1000)
  @Max(60_000)
  HTTP_HEADERS_TIMEOUT_MS = 10_000;

  @Type(() => Number)
  @IsInt()
  @Min(1000)
  @Max(120_000)
  HTTP_REQUEST_TIMEOUT_MS = 30_000;

  /**
   * How long an idle keep-alive connection stays open. Longer than the idle timeout of whatever sits in front
   * (a load balancer or proxy reusing its connections to us), or it sends a request just as we close: a reset.
   * Node's own 5 s is shorter than most; 72 s is Fastify's default, above the common 60 s.
   */
  @Type(() => Number)
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  HTTP_KEEP_ALIVE_TIMEOUT_MS = 72_000;

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'info';

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(256)
  QUEUE_CONCURRENCY = 64;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  QUEUE_MAX_ATTEMPTS = 8;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  QUEUE_BACKOFF_BASE_MS = 1000;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  QUEUE_BACKOFF_MAX_MS = 60_000;

  @Type(() => Number)
  @IsInt()
  @Min(100)
  QUEUE_LEASE_MS = 30_000;

  @Type(() => Number)
  @IsInt()
  @Min(10)
  QUEUE_POLL_INTERVAL_MS = 500;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  QUEUE_SHUTDOWN_GRACE_MS = 10_000;

  @IsIn(['pass_through', 'reject'])
  UNKNOWN_EVENT_POLICY: 'pass_through' | 'reject' = 'pass_through';

  @IsIn(['true', 'false'])
  CALLBACK_ALLOW_HTTP: 'true' | 'false' = 'false';

  /** Defaults to the host of MODELRIVER_BASE_URL (see the callback namespace). */
  @Transform(splitList)
  @IsString({ each: true })
  @Matches(/^[A-Za-z0-9.:[\]-]+$/, { each: true, message: 'each CALLBACK_ALLOWED_HOSTS entry must be a host name or IP' })
  CALLBACK_ALLOWED_HOSTS: string[] = [];

  @Type(() => Number)
  @IsInt()
  @Min(10)
  @Max(60_000)
  CALLBACK_CONNECT_TIMEOUT_MS = 5000;

  @Type(() => Number)
  @IsInt()
  @Min(10)
  @Max(120_000)
  CALLBACK_TIMEOUT_MS = 15_000;

  /** Everything (processing retries, callback retries, the error callback) must fit in ModelRiver's 5-minute window. */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(290_000)
  CALLBACK_BUDGET_MS = 240_000;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  CALLBACK_RETRY_BASE_MS = 1000;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  CALLBACK_RETRY_MAX_MS = 30_000;

  @IsString()
  @Matches(/^[A-Za-z0-9_.-]{1,100}$/, { message: 'AI_DEFAULT_WORKFLOW must be a workflow name' })
  AI_DEFAULT_WORKFLOW = 'content_generator';

  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(60_000)
  AI_REQUEST_TIMEOUT_MS = 10_000;

  /** Requests per minute per client IP on POST /ai/generate. */
  @Type(() => Number)
  @IsInt()
  @Min(1)
  AI_GENERATE_RATE_LIMIT = 30;

  @Type(() => Number)
  @IsInt()
  @Min(2)
  @Max(65_536)
  AI_METADATA_MAX_BYTES = 4096;

  /** When set, /ai routes need `Authorization: Bearer <one of these>`. */
  @Transform(splitList)
  @IsString({ each: true })
  @Matches(/^.{16,}$/, { each: true, message: 'each API_TOKENS entry must be at least 16 characters' })
  API_TOKENS: string[] = [];

  @IsIn(['true', 'false'])
  MODELRIVER_SANDBOX: 'true' | 'false' = 'false';

  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  SANDBOX_PORT = 3100;

  @Type(() => Number)
  @Min(0.0001)
  @Max(1)
  SANDBOX_TIME_FACTOR = 1;

  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(60_000)
  SANDBOX_LATENCY_MS = 400;

  @IsIn(SIGNATURE_SCHEMES)
  SANDBOX_SIGNATURE_SCHEME: SignatureScheme = 'raw';

  /** `gateway`: we relay ModelRiver's WebSocket through socket.io; `direct`: browsers use ModelRiver's SDK. */
  @IsIn(['gateway', 'direct'])
  AI_REALTIME_MODE: 'gateway' | 'direct' = 'gateway';

  /** Signs subscribe tokens; every instance must share it. */
  @IsString()
  @Matches(/^.{32,}$/, { message: 'REALTIME_TOKEN_SECRET must be at least 32 characters' })
  REALTIME_TOKEN_SECRET: string;

  @Type(() => Number)
  @IsInt()
  @Min(10_000)
  REALTIME_TOKEN_TTL_MS = 15 * 60_000;

  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  REALTIME_MAX_SUBSCRIPTIONS_PER_SOCKET = 20;

  /** How long a channel's latest state is kept for late subscribers. */
  @Type(() => Number)
  @IsInt()
  @Min(1000)
  REALTIME_STATE_TTL_MS = 15 * 60_000;

  /** An upstream channel with no push for this long is closed. */
  @Type(() => Number)
  @IsInt()
  @Min(1000)
  REALTIME_UPSTREAM_IDLE_MS = 10 * 60_000;

  /**
   * The plain WebSocket route (/ws/ai/…) pings each listener this often, so that proxies and load balancers do not
   * cut a quiet one (nginx and many balancers: 60 s); a listener that has not answered the previous ping is closed.
   */
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(300_000)
  REALTIME_PING_INTERVAL_MS = 25_000;

  /**
   * Proxies in front of the service whose X-Forwarded-For is believed (client addresses in logs and rate limits):
   * a comma-separated list of their addresses, CIDR ranges, or the named ranges loopback, linklocal and
   * uniquelocal (the compose file's nginx: uniquelocal). Only a peer in the list is believed, so a client that
   * reaches the port directly cannot name itself. Unset: nobody's, the socket's peer is the client.
   */
  @IsOptional()
  @Transform(splitList)
  @IsTrustProxy()
  TRUST_PROXY?: string[];

  /** Origins allowed to call the API and the socket.io gateway from a browser; empty means same origin only. */
  @Transform(splitList)
  @IsString({ each: true })
  CORS_ORIGINS: string[] = [];
}

const SECRET_VARIABLES = ['MODELRIVER_API_KEY', 'MODELRIVER_WEBHOOK_SECRET', 'REALTIME_TOKEN_SECRET', 'ADMIN_TOKEN'] as const;

/** class-validator's rule names, most basic first: the one reported when a value breaks several. */
const BASIC_RULES = ['isNotEmpty', 'isString', 'isInt', 'isNumber', 'isIn', 'matches', 'isUrl', 'min', 'max'];

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

/**
 * Validates raw environment values (strings) into typed configuration. Empty strings count as unset so
 * that `PORT=` in a file falls back to the default instead of failing obscurely.
 */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const present = Object.fromEntries(
    Object.entries(raw).filter(([, value]) => value !== undefined && value !== ''),
  );
  const env = plainToInstance(EnvironmentVariables, present, { exposeDefaultValues: true });
  // One reason per variable (the most basic rule it breaks: a number before its range), with what was given
  // unless it is a secret.
  const problems = validateSync(env, { skipMissingProperties: false }).map((error) => {
    const constraints = error.constraints ?? {};
    const first = BASIC_RULES.find((rule) => rule in constraints) ?? Object.keys(constraints)[0];
    const given = present[error.property];
    if (given === undefined) return `${error.property} is required`;
    const message = first === undefined ? 'is not valid' : constraints[first];
    const reason = message.startsWith(error.property) ? message : `${error.property}: ${message}`;
    const secret = (SECRET_VARIABLES as readonly string[]).includes(error.property);
    return secret || typeof given !== 'string' ? reason : `${reason} (got ${JSON.stringify(given).slice(0, 80)})`;
  });
  if (env.NODE_ENV === 'production') {
    for (const name of SECRET_VARIABLES) {
      const value: unknown = env[name];
      const values = Array.isArray(value) ? value : [value];
      if (values.some((item) => typeof item === 'string' && item.includes(DEV_ONLY_MARKER))) {
        problems.push(`${name} holds a committed development value; set a real one in production`);
      }
    }
  }
  const postgres = env.DATABASE_URL.startsWith('postgres');
  if (postgres !== (env.REDIS_URL !== undefined)) {
    problems.push(
      'DATABASE_URL and REDIS_URL: the scale profile needs both PostgreSQL (DATABASE_URL=postgres://...) and REDIS_URL; the embedded profile neither',
    );
  }
  if (env.NODE_ENV === 'production') {
    for (const name of ['DELIVERY_RETENTION', 'FAILED_RETENTION'] as const) {
      // undefined for `off` and for a malformed value (reported above).
      const ms = retentionMs(env[name]);
      if (ms !== undefined && ms < PRODUCTION_MIN_RETENTION_MS) {
        problems.push(`${name} must be at least 24h in production: ModelRiver retries a webhook for 3 h 42 min, and a deleted delivery is no longer deduplicated (got ${env[name]})`);
      }
    }
  }
  if (env.NODE_ENV === 'production' && env.MODELRIVER_SANDBOX === 'true') {
    problems.push('MODELRIVER_SANDBOX must be false in production: the sandbox is for development and tests only');
  }
  if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
    problems.push('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');
  }
  if (env.INTAKE_MAX_BACKLOG_AGE_MS !== undefined && env.INTAKE_MAX_BACKLOG_AGE_MS > env.CALLBACK_BUDGET_MS) {
    problems.push('INTAKE_MAX_BACKLOG_AGE_MS must not exceed CALLBACK_BUDGET_MS: a delivery that waited longer cannot be called back in time');
  }
  if (env.CALLBACK_TIMEOUT_MS * 3 > env.CALLBACK_BUDGET_MS) {
    problems.push('CALLBACK_BUDGET_MS must be at least 3 x CALLBACK_TIMEOUT_MS (result attempts plus the error callback)');
  }
  if (problems.length > 0) {
    throw new ConfigurationError(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return env;
}
