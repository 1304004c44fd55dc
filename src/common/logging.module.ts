import { randomUUID } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerService, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino from 'pino';
import { HttpLogger, pinoHttp } from 'pino-http';
import { appConfig, AppConfig } from '../config/configuration';

/** Where Fastify's genReqId leaves the id, so the access log and error bodies carry the same one. */
export const REQUEST_ID = Symbol.for('modelriver.requestId');
type WithRequestId = IncomingMessage & { [REQUEST_ID]?: string };

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Honours a well-formed incoming X-Request-Id (proxies set one), otherwise a fresh UUID. */
export function genRequestId(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  const id = typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  (request as WithRequestId)[REQUEST_ID] = id;
  return id;
}

/** Nest's own start-up chatter (modules loaded, routes mapped, gateways subscribed): debug, not info. */
const STARTUP_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'WebSocketsController', 'NestApplication']);

/** The app's logger with Nest's start-up lines demoted to debug; everything else as it comes. */
export function quietStartup(logger: LoggerService): LoggerService {
  return {
    log: (message: unknown, ...rest: unknown[]) => {
      const context = rest.at(-1);
      if (typeof context === 'string' && STARTUP_CONTEXTS.has(context)) logger.debug?.(message, ...rest);
      else logger.log(message, ...rest);
    },
    error: (message: unknown, ...rest: unknown[]) => void logger.error(message, ...rest),
    warn: (message: unknown, ...rest: unknown[]) => void logger.warn(message, ...rest),
    debug: (message: unknown, ...rest: unknown[]) => void logger.debug?.(message, ...rest),
    verbose: (message: unknown, ...rest: unknown[]) => void logger.verbose?.(message, ...rest),
    fatal: (message: unknown, ...rest: unknown[]) => void logger.fatal?.(message, ...rest),
  };
}

type Req = IncomingMessage & { id?: string | number | object };
/** An error reaches a log line as its message only: the exception filter logs a stack where one helps. */
const errorSerializer = (err: Error) => ({ type: err.name, message: err.message });
const idOf = (req: Req) => (typeof req.id === 'string' || typeof req.id === 'number' ? req.id : '-');

/** The app's one pino logger (one output stream): request lines, lines of request handlers, the worker, start-up. */
export const APP_PINO = Symbol('APP_PINO');

function createAppPino(config: AppConfig): pino.Logger {
  return pino({
    level: config.logLevel,
    transport:
      config.nodeEnv === 'development'
        ? { target: 'pino-pretty', options: { singleLine: true, ignore: 'pid,hostname,req,res,responseTime,reqId', translateTime: 'HH:MM:ss.l' } }
        : undefined,
    serializers: { err: errorSerializer },
  });
}

/**
 * The request logger: one line per request as it ends, with method, path, status, duration and request id, and no
 * header, body, secret or token ever (bodies are never logged; headers are not serialised at all). Run by a Fastify
 * hook (configureApp), on the app's pino logger.
 */
export function requestLogger(logger: pino.Logger): HttpLogger {
  return pinoHttp({
    logger,
    genReqId: (request: IncomingMessage) => (request as WithRequestId)[REQUEST_ID] ?? genRequestId(request),
    quietReqLogger: true,
    serializers: {
      req: (req: Req) => ({ id: req.id, method: req.method, url: req.url }),
      res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
      err: errorSerializer,
    },
    customSuccessMessage: (req: Req, res: ServerResponse, responseTime: number) =>
      `${req.method} ${req.url} ${res.statusCode} ${Math.round(responseTime)} ms (request ${idOf(req)})`,
    customErrorMessage: (req: Req, res: ServerResponse) => `${req.method} ${req.url} ${res.statusCode} (request ${idOf(req)})`,
    // Health and metrics scrapes are frequent and uninteresting.
    autoLogging: { ignore: (request: IncomingMessage) => /^\/(health|metrics)/.test(request.url ?? '') },
    // An error of ours is an error; an upstream's (502/503/504) or a caller's (4xx) is not.
    customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
      res.statusCode === 500 || (error && res.statusCode < 400) ? 'error' : res.statusCode >= 500 ? 'warn' : 'info',
  });
}

@Module({
  providers: [{ provide: APP_PINO, inject: [appConfig.KEY], useFactory: createAppPino }],
  exports: [APP_PINO],
})
class AppPinoModule {}

/**
 * Logs are for people: pretty, single-line text in development; one JSON object per line elsewhere, with the same
 * fields. Nest's Logger writes through nestjs-pino to the app's pino logger (left to itself nestjs-pino would build
 * a second pino instance, with its own pretty-printing thread in development, and lines of the two could reach the
 * terminal out of order: a delivery's callback line before its "accepted" line).
 *
 * nestjs-pino's own request middleware is not used (`forRoutes: []`): it binds each request's logger with
 * AsyncLocalStorage, which before Node 24 puts a hook on every promise the process creates, ~15 % of a webhook's CPU
 * from intake to callback. Request lines come from `requestLogger` instead; a line logged while a request is handled
 * names the request in its text where it matters (errors, refused webhooks).
 */
@Module({
  imports: [
    AppPinoModule,
    LoggerModule.forRootAsync({
      imports: [AppPinoModule],
      inject: [APP_PINO],
      useFactory: (logger: pino.Logger) => ({ pinoHttp: { logger }, forRoutes: [] }),
    }),
  ],
  exports: [AppPinoModule],
})
export class LoggingModule {}
