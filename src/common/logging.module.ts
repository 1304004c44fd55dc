import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
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

/** Secrets never reach a log line: credentials, signatures, tokens and cookies are censored, bodies never logged. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["mr-signature"]',
  'req.headers["x-modelriver-signature"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
];

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [appConfig.KEY],
      useFactory: (config: AppConfig) => ({
        pinoHttp: {
          level: config.logLevel,
          // Pretty for people in development; JSON (one object per line) everywhere else.
          transport: config.nodeEnv === 'development' ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
          genReqId: (request: IncomingMessage) => (request as WithRequestId)[REQUEST_ID] ?? genRequestId(request),
          redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
          serializers: {
            req: (req: { id: string; method: string; url: string; headers: Record<string, unknown>; remoteAddress?: string }) => ({
              id: req.id,
              method: req.method,
              url: req.url,
              headers: req.headers,
              remoteAddress: req.remoteAddress,
            }),
          },
          // Health and metrics scrapes are frequent and uninteresting.
          autoLogging: { ignore: (request: IncomingMessage) => /^\/(health|metrics)/.test(request.url ?? '') },
          customLogLevel: (_req: IncomingMessage, res: { statusCode: number }, error?: Error) =>
            error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
        },
      }),
    }),
  ],
})
export class LoggingModule {}
