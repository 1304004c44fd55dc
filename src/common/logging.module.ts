import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { LoggerService, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino from 'pino';
import { appConfig, AppConfig } from '../config/configuration';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Fastify's genReqId: a well-formed incoming X-Request-Id (proxies set one), otherwise a fresh UUID. */
export function genRequestId(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Nest's own start-up chatter (modules loaded, routes mapped, gateways subscribed): debug, not info. */
const STARTUP_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'WebSocketsController', 'NestApplication']);

/** The pino level each of Nest's logger methods writes at (nestjs-pino's mapping). */
const PINO_LEVELS = { log: 'info', error: 'error', warn: 'warn', debug: 'debug', verbose: 'trace', fatal: 'fatal' } as const;
type NestLevel = keyof typeof PINO_LEVELS;

/**
 * The logger the app hands Nest (`app.useLogger`): nestjs-pino's, behind two gates. Nest's start-up lines are demoted
 * to debug; every other line keeps its level. A line below `LOG_LEVEL` stops here, before nestjs-pino builds its
 * arguments: at `warn`, a delivery's `info` lines ("accepted", "delivered") cost nothing beyond Nest's own call.
 */
export function appLogger(logger: LoggerService, levels: Pick<pino.Logger, 'isLevelEnabled'>): LoggerService {
  const write = (level: NestLevel, message: unknown, rest: unknown[]) => {
    if (levels.isLevelEnabled(PINO_LEVELS[level])) logger[level]?.(message, ...rest);
  };
  return {
    log: (message: unknown, ...rest: unknown[]) => {
      const context = rest.at(-1);
      write(typeof context === 'string' && STARTUP_CONTEXTS.has(context) ? 'debug' : 'log', message, rest);
    },
    error: (message: unknown, ...rest: unknown[]) => write('error', message, rest),
    warn: (message: unknown, ...rest: unknown[]) => write('warn', message, rest),
    debug: (message: unknown, ...rest: unknown[]) => write('debug', message, rest),
    verbose: (message: unknown, ...rest: unknown[]) => write('verbose', message, rest),
    fatal: (message: unknown, ...rest: unknown[]) => write('fatal', message, rest),
  };
}

/** An error reaches a log line as its message only: the exception filter logs a stack where one helps. */
const errorSerializer = (err: Error) => ({ type: err.name, message: err.message });

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

/** A request as it ended: answered with `statusCode`, or abandoned by the client before the answer. */
export interface EndedRequest {
  id: string;
  method: string;
  url: string;
  statusCode: number | 'aborted';
  /** Milliseconds from its arrival to the answer. */
  responseTime?: number;
}

/** Health and metrics scrapes are frequent and uninteresting. */
const UNLOGGED = /^\/(health|metrics)/;

/**
 * The request log: one line per request as it ends, with method, path, status, duration and request id (`reqId`,
 * and `req`, `res`, `responseTime` in JSON), and no header, body, secret or token ever. An error of ours (500) is
 * an error; an upstream's (502/503/504) a warning; a caller's (4xx) is not. Run when a response closes
 * (configureApp): nothing is built for a request whose line the level drops, where pino-http made two child
 * loggers per request whatever the level.
 */
export function requestLogger(logger: pino.Logger): (request: EndedRequest) => void {
  return ({ id, method, url, statusCode, responseTime }) => {
    if (UNLOGGED.test(url)) return;
    const level = statusCode === 500 ? 'error' : typeof statusCode === 'number' && statusCode >= 500 ? 'warn' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    if (statusCode === 'aborted') {
      logger.info({ reqId: id, req: { id, method, url } }, `${method} ${url} abandoned by the client before the answer (request ${id})`);
      return;
    }
    const ms = Math.round(responseTime ?? 0);
    const fields = { reqId: id, req: { id, method, url }, res: { statusCode }, responseTime: ms };
    if (statusCode >= 500) logger[level]({ ...fields, err: new Error(`failed with status code ${statusCode}`) }, `${method} ${url} ${statusCode} (request ${id})`);
    else logger[level](fields, `${method} ${url} ${statusCode} ${ms} ms (request ${id})`);
  };
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
