import { ConfigType, registerAs } from '@nestjs/config';
import { EnvironmentVariables, retentionMs, validateEnvironment } from './environment';

/**
 * The only reader of process.env. ConfigModule has already merged `.env` into it (real environment
 * variables win) and validated it; each namespace takes its typed slice of the validated result.
 */
const env = (): EnvironmentVariables => validateEnvironment(process.env);

export const appConfig = registerAs('app', () => {
  const e = env();
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    adminToken: e.ADMIN_TOKEN,
  };
});

export const databaseConfig = registerAs('database', () => {
  const e = env();
  return {
    url: e.DATABASE_URL,
    busyTimeoutMs: e.DATABASE_BUSY_TIMEOUT_MS,
    sqliteSynchronous: e.SQLITE_SYNCHRONOUS,
    poolSize: e.DATABASE_POOL_SIZE,
    preparedStatements: e.DATABASE_PREPARED_STATEMENTS === 'true',
  };
});

/** `embedded`: SQLite + in-process queue + in-memory socket.io; `scale`: PostgreSQL + BullMQ + Redis. */
export const redisConfig = registerAs('redis', () => {
  const e = env();
  return { url: e.REDIS_URL, profile: e.REDIS_URL ? ('scale' as const) : ('embedded' as const) };
});

const sandboxOn = (e: EnvironmentVariables): boolean => e.MODELRIVER_SANDBOX === 'true';
/** With the sandbox on, the backend talks to it instead of ModelRiver, whatever MODELRIVER_BASE_URL says. */
const modelriverBaseUrl = (e: EnvironmentVariables): string =>
  sandboxOn(e) ? `http://127.0.0.1:${e.SANDBOX_PORT}` : e.MODELRIVER_BASE_URL.replace(/\/+$/, '');

export const modelriverConfig = registerAs('modelriver', () => {
  const e = env();
  return {
    baseUrl: modelriverBaseUrl(e),
    apiKey: e.MODELRIVER_API_KEY,
    requestTimeoutMs: e.AI_REQUEST_TIMEOUT_MS,
  };
});

export const aiConfig = registerAs('ai', () => {
  const e = env();
  return {
    defaultWorkflow: e.AI_DEFAULT_WORKFLOW,
    generateRateLimit: e.AI_GENERATE_RATE_LIMIT,
    metadataMaxBytes: e.AI_METADATA_MAX_BYTES,
    apiTokens: e.API_TOKENS,
  };
});

export const realtimeConfig = registerAs('realtime', () => {
  const e = env();
  return {
    mode: e.AI_REALTIME_MODE,
    tokenSecret: e.REALTIME_TOKEN_SECRET,
    tokenTtlMs: e.REALTIME_TOKEN_TTL_MS,
    maxSubscriptionsPerSocket: e.REALTIME_MAX_SUBSCRIPTIONS_PER_SOCKET,
    stateTtlMs: e.REALTIME_STATE_TTL_MS,
    upstreamIdleMs: e.REALTIME_UPSTREAM_IDLE_MS,
    pingIntervalMs: e.REALTIME_PING_INTERVAL_MS,
    corsOrigins: e.CORS_ORIGINS,
  };
});

export const sandboxConfig = registerAs('sandbox', () => {
  const e = env();
  return {
    enabled: sandboxOn(e),
    port: e.SANDBOX_PORT,
    timeFactor: e.SANDBOX_TIME_FACTOR,
    latencyMs: e.SANDBOX_LATENCY_MS,
    signatureScheme: e.SANDBOX_SIGNATURE_SCHEME,
    apiKey: e.MODELRIVER_API_KEY,
    webhookSecret: e.MODELRIVER_WEBHOOK_SECRET[0],
  };
});

export const webhookConfig = registerAs('webhook', () => {
  const e = env();
  return {
    secrets: e.MODELRIVER_WEBHOOK_SECRET,
    schemes: e.WEBHOOK_SIGNATURE_SCHEMES,
    maxBodyBytes: e.WEBHOOK_MAX_BODY_BYTES,
    timestampToleranceS: e.WEBHOOK_TIMESTAMP_TOLERANCE_S,
    eventTypes: e.WEBHOOK_EVENT_TYPES,
    // A backlog older than a quarter of the budget leaves the rest for processing and callback retries.
    maxBacklogAgeMs: e.INTAKE_MAX_BACKLOG_AGE_MS ?? Math.floor(e.CALLBACK_BUDGET_MS / 4),
  };
});

export const queueConfig = registerAs('queue', () => {
  const e = env();
  return {
    concurrency: e.QUEUE_CONCURRENCY,
    maxAttempts: e.QUEUE_MAX_ATTEMPTS,
    backoffBaseMs: e.QUEUE_BACKOFF_BASE_MS,
    backoffMaxMs: e.QUEUE_BACKOFF_MAX_MS,
    leaseMs: e.QUEUE_LEASE_MS,
    pollIntervalMs: e.QUEUE_POLL_INTERVAL_MS,
    shutdownGraceMs: e.QUEUE_SHUTDOWN_GRACE_MS,
  };
});

export const processingConfig = registerAs('processing', () => ({
  unknownEventPolicy: env().UNKNOWN_EVENT_POLICY,
}));

export const callbackConfig = registerAs('callback', () => {
  const e = env();
  const allowedHosts =
    e.CALLBACK_ALLOWED_HOSTS.length > 0
      ? e.CALLBACK_ALLOWED_HOSTS.map((host) => host.toLowerCase())
      : [new URL(e.MODELRIVER_BASE_URL).hostname.toLowerCase()];
  return {
    apiKey: e.MODELRIVER_API_KEY,
    // The sandbox's callback endpoint is plain http on loopback.
    allowHttp: e.CALLBACK_ALLOW_HTTP === 'true' || sandboxOn(e),
    allowedHosts: sandboxOn(e) && !allowedHosts.includes('127.0.0.1') ? [...allowedHosts, '127.0.0.1'] : allowedHosts,
    connectTimeoutMs: e.CALLBACK_CONNECT_TIMEOUT_MS,
    timeoutMs: e.CALLBACK_TIMEOUT_MS,
    budgetMs: e.CALLBACK_BUDGET_MS,
    retryBaseMs: e.CALLBACK_RETRY_BASE_MS,
    retryMaxMs: e.CALLBACK_RETRY_MAX_MS,
  };
});

/** How long finished rows are kept; undefined: for ever (`off`). */
export const retentionConfig = registerAs('retention', () => {
  const e = env();
  return {
    completedMs: retentionMs(e.DELIVERY_RETENTION),
    failedMs: retentionMs(e.FAILED_RETENTION),
    completed: e.DELIVERY_RETENTION,
    failed: e.FAILED_RETENTION,
  };
});

export type AppConfig = ConfigType<typeof appConfig>;
export type DatabaseConfig = ConfigType<typeof databaseConfig>;
export type ModelriverConfig = ConfigType<typeof modelriverConfig>;
export type WebhookConfig = ConfigType<typeof webhookConfig>;
export type QueueConfig = ConfigType<typeof queueConfig>;
export type ProcessingConfig = ConfigType<typeof processingConfig>;
export type CallbackConfig = ConfigType<typeof callbackConfig>;
export type AiConfig = ConfigType<typeof aiConfig>;
export type SandboxConfig = ConfigType<typeof sandboxConfig>;
export type RealtimeConfig = ConfigType<typeof realtimeConfig>;
export type RedisConfig = ConfigType<typeof redisConfig>;
export type RetentionConfig = ConfigType<typeof retentionConfig>;

export const CONFIG_NAMESPACES = [
  appConfig,
  databaseConfig,
  modelriverConfig,
  webhookConfig,
  queueConfig,
  processingConfig,
  callbackConfig,
  aiConfig,
  sandboxConfig,
  realtimeConfig,
  redisConfig,
  retentionConfig,
];
