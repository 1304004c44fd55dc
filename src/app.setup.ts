import { randomUUID } from 'node:crypto';
import { ConsoleLogger, LogLevel as NestLogLevel, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyRequest } from 'fastify';
import { AppModule, AppOptions } from './app.module';
import { AllExceptionsFilter } from './common/all-exceptions.filter';
import { appConfig, AppConfig, realtimeConfig, RealtimeConfig, redisConfig, RedisConfig, webhookConfig, WebhookConfig } from './config/configuration';
import { LogLevel } from './config/environment';
import { ConfiguredIoAdapter } from './realtime/socket-io.adapter';
import { installWebhookIntakeHooks, isWebhookIntake } from './webhooks/webhook-route';

const NEST_LEVELS: Record<LogLevel, NestLogLevel[]> = {
  fatal: ['fatal'],
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  trace: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

export function createFastifyAdapter(): FastifyAdapter {
  return new FastifyAdapter({ genReqId: () => randomUUID() });
}

/** The one bootstrap path: main.ts and every e2e test build the app here. */
export async function createApp(options: AppOptions = {}): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(options), createFastifyAdapter(), {
    rawBody: true,
    bufferLogs: true,
    abortOnError: false,
  });
  await configureApp(app);
  return app;
}

export async function configureApp(app: NestFastifyApplication): Promise<void> {
  const { logLevel, nodeEnv } = app.get<AppConfig>(appConfig.KEY);
  const { maxBodyBytes } = app.get<WebhookConfig>(webhookConfig.KEY);
  app.useLogger(new ConsoleLogger({ logLevels: NEST_LEVELS[logLevel], json: nodeEnv === 'production' }));
  app.useGlobalFilters(new AllExceptionsFilter());
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  const { corsOrigins } = app.get<RealtimeConfig>(realtimeConfig.KEY);
  if (corsOrigins.length > 0) app.enableCors({ origin: corsOrigins });
  const ioAdapter = new ConfiguredIoAdapter(app, corsOrigins);
  const redis = app.get<RedisConfig>(redisConfig.KEY);
  if (redis.url) await ioAdapter.connectToRedis(redis.url);
  app.useWebSocketAdapter(ioAdapter);

  const fastify = app.getHttpAdapter().getInstance();
  // Webhook intakes keep their bytes unparsed until the signature is checked; every other JSON route
  // gets Fastify's parser, which rejects prototype-poisoning keys.
  const defaultJson = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser('application/json', { bodyLimit: maxBodyBytes }, (request: FastifyRequest, body, done) => {
    if (isWebhookIntake(request)) {
      done(null, undefined);
      return;
    }
    // Typed for strings, but takes the buffer as well (Nest's own parser passes it the same way).
    void defaultJson(request, body as unknown as string, done);
  });
  installWebhookIntakeHooks(fastify, maxBodyBytes);
}
