import { randomUUID } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerService, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino from 'pino';
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

/**
 * Logs are for people: one line per request with method, path, status, duration and request id, and no header,
 * body, secret or token ever (bodies are never logged; headers are not serialised at all). Pretty, single-line
 * text in development; one JSON object per line elsewhere, with the same fields. Lines logged while a request is
 * handled carry only its id (`reqId`).
 */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [appConfig.KEY],
      useFactory: (config: AppConfig) => {
        // One logger (one output stream) for request lines, lines logged while a request is handled, and lines
        // logged outside any request (the worker, start-up). Left to itself nestjs-pino builds a second pino
        // instance for the latter, with its own pretty-printing thread in development, and lines of the two could
        // reach the terminal out of order (a delivery's callback line before its "accepted" line).
        const logger = pino({
          level: config.logLevel,
          transport:
            config.nodeEnv === 'development'
              ? { target: 'pino-pretty', options: { singleLine: true, ignore: 'pid,hostname,req,res,responseTime,reqId', translateTime: 'HH:MM:ss.l' } }
              : undefined,
          serializers: { err: errorSerializer },
        });
        return {
          pinoHttp: {
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
          },
        };
      },
    }),
  ],
})
export class LoggingModule {}
