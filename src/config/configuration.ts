import { ConfigType, registerAs } from '@nestjs/config';
import { EnvironmentVariables, validateEnvironment } from './environment';

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
  };
});

export const databaseConfig = registerAs('database', () => {
  const e = env();
  return {
    url: e.DATABASE_URL,
    busyTimeoutMs: e.DATABASE_BUSY_TIMEOUT_MS,
    sqliteSynchronous: e.SQLITE_SYNCHRONOUS,
  };
});

export const modelriverConfig = registerAs('modelriver', () => {
  const e = env();
  return {
    baseUrl: e.MODELRIVER_BASE_URL.replace(/\/+$/, ''),
    apiKey: e.MODELRIVER_API_KEY,
  };
});

export const webhookConfig = registerAs('webhook', () => {
  const e = env();
  return {
    secrets: e.MODELRIVER_WEBHOOK_SECRET,
    schemes: e.WEBHOOK_SIGNATURE_SCHEMES,
    maxBodyBytes: e.WEBHOOK_MAX_BODY_BYTES,
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
  return {
    apiKey: e.MODELRIVER_API_KEY,
    allowHttp: e.CALLBACK_ALLOW_HTTP === 'true',
    allowedHosts:
      e.CALLBACK_ALLOWED_HOSTS.length > 0
        ? e.CALLBACK_ALLOWED_HOSTS.map((host) => host.toLowerCase())
        : [new URL(e.MODELRIVER_BASE_URL).hostname.toLowerCase()],
    connectTimeoutMs: e.CALLBACK_CONNECT_TIMEOUT_MS,
    timeoutMs: e.CALLBACK_TIMEOUT_MS,
    budgetMs: e.CALLBACK_BUDGET_MS,
    retryBaseMs: e.CALLBACK_RETRY_BASE_MS,
    retryMaxMs: e.CALLBACK_RETRY_MAX_MS,
  };
});

export type AppConfig = ConfigType<typeof appConfig>;
export type DatabaseConfig = ConfigType<typeof databaseConfig>;
export type ModelriverConfig = ConfigType<typeof modelriverConfig>;
export type WebhookConfig = ConfigType<typeof webhookConfig>;
export type QueueConfig = ConfigType<typeof queueConfig>;
export type ProcessingConfig = ConfigType<typeof processingConfig>;
export type CallbackConfig = ConfigType<typeof callbackConfig>;

export const CONFIG_NAMESPACES = [
  appConfig,
  databaseConfig,
  modelriverConfig,
  webhookConfig,
  queueConfig,
  processingConfig,
  callbackConfig,
];
