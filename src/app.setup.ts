import { createServer, RequestListener, Server } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { FastifyRequest } from 'fastify';
import { Logger } from 'nestjs-pino';
import type { Logger as PinoLogger } from 'pino';
import { AppModule, AppOptions } from './app.module';
import { AllExceptionsFilter } from './common/all-exceptions.filter';
import { LifecycleService } from './common/lifecycle.service';
import { constantSecurityHeaders } from './common/security-headers';
import { jsonBodiesOnly, requestValidationPipe } from './common/request-validation';
import { APP_PINO, appLogger, genRequestId, requestLogger } from './common/logging.module';
import { resolveEnvironment } from './config/config.module';
import { appConfig, AppConfig, realtimeConfig, RealtimeConfig, redisConfig, RedisConfig, webhookConfig, WebhookConfig } from './config/configuration';
import { MetricsService } from './metrics/metrics.service';
import { ConfiguredIoAdapter } from './realtime/socket-io.adapter';
import { installWebhookIntakeHooks, isWebhookIntake } from './webhooks/webhook-route';

/** `trustProxy`: TRUST_PROXY (the proxies' addresses and ranges), so request.ip is the real client behind them. */
export function createFastifyAdapter(trustProxy?: string[]): FastifyAdapter {
  return new FastifyAdapter({
    // requestLogger (installed by configureApp) logs requests; Fastify's own logger stays off.
    genReqId: genRequestId,
    logger: false,
    trustProxy: trustProxy ?? false,
    // Node enforces the header and request timeouts (set in configureApp) on this interval; its default
    // of 30 s would let a slow client linger that much longer.
    serverFactory: (handler: RequestListener) => createServer({ connectionsCheckingInterval: 1000 }, handler),
  });
}

/**
 * The one bootstrap path: main.ts and every e2e test build the app here. The configuration is validated first,
 * so a bad one fails before anything starts (ConfigurationError, printed once by main.ts).
 */
export async function createApp(options: AppOptions = {}): Promise<NestFastifyApplication> {
  const env = resolveEnvironment(options);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(options), createFastifyAdapter(env.TRUST_PROXY), {
    rawBody: true,
    // Quiet until configureApp installs the app's logger: a failed start is reported once, by main.ts.
    logger: false,
    abortOnError: false,
  });
  await configureApp(app);
  return app;
}

export async function configureApp(app: NestFastifyApplication): Promise<void> {
  const { maxBodyBytes } = app.get<WebhookConfig>(webhookConfig.KEY);
  const pino = app.get<PinoLogger>(APP_PINO);
  app.useLogger(appLogger(app.get(Logger), pino));
  app.useGlobalFilters(new AllExceptionsFilter());
  app.useGlobalPipes(requestValidationPipe());
  const { corsOrigins } = app.get<RealtimeConfig>(realtimeConfig.KEY);
  if (corsOrigins.length > 0) app.enableCors({ origin: corsOrigins });
  const ioAdapter = new ConfiguredIoAdapter(app, corsOrigins);
  const redis = app.get<RedisConfig>(redisConfig.KEY);
  if (redis.url) await ioAdapter.connectToRedis(redis.url);
  app.useWebSocketAdapter(ioAdapter);

  const fastify = app.getHttpAdapter().getInstance();
  // One line per request as its response closes (see requestLogger), early refusals and 404s included: answered if
  // the response finished, abandoned if the client left first (mid-body, or while we worked on the answer).
  const logRequest = requestLogger(pino);
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.raw.once('close', () =>
      logRequest({
        id: String(request.id),
        method: request.method,
        url: request.url,
        statusCode: reply.raw.writableFinished ? reply.statusCode : 'aborted',
        responseTime: reply.elapsedTime,
      }),
    );
    done();
  });
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
  // Helmet's headers with a CSP our pages (demo, admin, API docs) work under: scripts only from us. They are the
  // same on every response, so they are worked out once (see constantSecurityHeaders).
  const securityHeaders = constantSecurityHeaders({
    contentSecurityPolicy: {
      directives: {
        'style-src': ["'self'", "'unsafe-inline'"],
        'img-src': ["'self'", 'data:'],
        'connect-src': ["'self'", 'ws:', 'wss:'],
        // TLS usually ends at a proxy in front of us; plain http on localhost must keep working.
        'upgrade-insecure-requests': null,
      },
    },
  });
  fastify.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(securityHeaders);
    done();
  });
  fastify.addHook('onRequest', jsonBodiesOnly(isWebhookIntake));
  // Slow clients are cut: headers within HTTP_HEADERS_TIMEOUT_MS, the whole request within HTTP_REQUEST_TIMEOUT_MS.
  // Idle keep-alive connections stay open HTTP_KEEP_ALIVE_TIMEOUT_MS (our serverFactory means Fastify does not set it).
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = app.get<AppConfig>(appConfig.KEY);
  const server = app.getHttpServer();
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = requestTimeoutMs;
  server.keepAliveTimeout = keepAliveTimeoutMs;
  closeConnectionsAsTheyGoIdle(server);
  const metrics = app.get(MetricsService);
  server.on('connection', () => metrics.httpConnections.inc());

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('ModelRiver event backend')
      .setDescription('Signed webhook intake, request start and status, admin, health. Realtime: socket.io namespace /ai.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });

  const lifecycle = app.get(LifecycleService);
  installWebhookIntakeHooks(fastify, {
    maxBodyBytes,
    onReject: (reason) => metrics.rejected(reason),
    draining: () => lifecycle.draining,
  });
}

/**
 * Node's server.close() ends the connections idle at that moment; one still answering a request stays open after
 * its answer until the keep-alive timeout ends it, which would hold the shutdown for up to a minute. Once the server
 * begins to close (socket.io's close closes it before Fastify's does), each such connection is closed as soon as
 * its answer is out (checked every 100 ms until the server has closed).
 */
function closeConnectionsAsTheyGoIdle(server: Server): void {
  const close = server.close.bind(server);
  let sweeping = false;
  server.close = (callback?: (error?: Error) => void) => {
    if (!sweeping) {
      sweeping = true;
      const timer = setInterval(() => server.closeIdleConnections(), 100);
      server.once('close', () => clearInterval(timer));
    }
    return close(callback);
  };
}
