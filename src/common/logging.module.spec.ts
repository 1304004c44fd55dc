import { Writable } from 'node:stream';
import pino from 'pino';
import { LoggerService } from '@nestjs/common';
import { appLogger, requestLogger } from './logging.module';

/** A pino logger at `level` whose lines are collected, parsed. */
function collecting(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level, serializers: { err: (err: Error) => ({ type: err.name, message: err.message }) } }, stream);
  return { lines, log: requestLogger(logger) };
}

describe('requestLogger', () => {
  it('writes one line per answered request: method, path, status, duration and request id, nothing else', () => {
    const { lines, log } = collecting('info');
    log({ id: 'r1', method: 'POST', url: '/webhooks/modelriver', statusCode: 200, responseTime: 3.4 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      reqId: 'r1',
      req: { id: 'r1', method: 'POST', url: '/webhooks/modelriver' },
      res: { statusCode: 200 },
      responseTime: 3,
      msg: 'POST /webhooks/modelriver 200 3 ms (request r1)',
    });
    expect(Object.keys(lines[0].req as object).sort()).toEqual(['id', 'method', 'url']);
  });

  it('an error of ours is an error, an upstream failure a warning, a caller mistake just a line', () => {
    const { lines, log } = collecting('info');
    log({ id: 'a', method: 'GET', url: '/x', statusCode: 500, responseTime: 1 });
    log({ id: 'b', method: 'GET', url: '/x', statusCode: 503, responseTime: 1 });
    log({ id: 'c', method: 'GET', url: '/x', statusCode: 404, responseTime: 1 });
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      [50, 'GET /x 500 (request a)'],
      [40, 'GET /x 503 (request b)'],
      [30, 'GET /x 404 1 ms (request c)'],
    ]);
    expect(lines[0].err).toEqual({ type: 'Error', message: 'failed with status code 500' });
  });

  it('skips health and metrics scrapes, and lines below the level', () => {
    const { lines, log } = collecting('warn');
    log({ id: 'h', method: 'GET', url: '/health/live', statusCode: 503, responseTime: 1 });
    log({ id: 'm', method: 'GET', url: '/metrics', statusCode: 500, responseTime: 1 });
    log({ id: 'i', method: 'GET', url: '/ai/requests/x', statusCode: 200, responseTime: 1 });
    log({ id: 'w', method: 'GET', url: '/ai/requests/x', statusCode: 502, responseTime: 1 });
    expect(lines.map((line) => line.reqId)).toEqual(['w']);
  });

  it('says when the client left before the answer', () => {
    const { lines, log } = collecting('info');
    log({ id: 'q', method: 'POST', url: '/webhooks/modelriver', statusCode: 'aborted' });
    expect(lines).toEqual([expect.objectContaining({ level: 30, reqId: 'q', msg: 'POST /webhooks/modelriver abandoned by the client before the answer (request q)' })]);
  });
});

describe('appLogger', () => {
  /** Nest's logger methods as they reach the inner logger: each call's method and arguments. */
  function recording(level: string) {
    const calls: unknown[][] = [];
    const inner = Object.fromEntries(
      ['log', 'error', 'warn', 'debug', 'verbose', 'fatal'].map((method) => [method, (...args: unknown[]) => calls.push([method, ...args])]),
    ) as unknown as LoggerService;
    return { calls, logger: appLogger(inner, pino({ level }, new Writable({ write: (_chunk, _encoding, done) => done() }))) };
  }

  it('demotes Nest start-up chatter to debug and passes the app\'s own lines on as they come', () => {
    const { calls, logger } = recording('debug');
    logger.log('Nest application successfully started', 'NestApplication');
    logger.log('accepted delivery d1', 'WebhookIngestService');
    logger.warn('slow', 'Ctx');
    expect(calls).toEqual([
      ['debug', 'Nest application successfully started', 'NestApplication'],
      ['log', 'accepted delivery d1', 'WebhookIngestService'],
      ['warn', 'slow', 'Ctx'],
    ]);
  });

  it('drops a line below the level before the inner logger sees it, at the level nestjs-pino would write it', () => {
    const { calls, logger } = recording('warn');
    logger.log('accepted delivery d1', 'WebhookIngestService');
    logger.debug?.('processed', 'Ctx');
    logger.verbose?.('detail', 'Ctx');
    logger.warn('slow', 'Ctx');
    logger.error('failed', 'stack', 'Ctx');
    logger.fatal?.('gone', 'Ctx');
    expect(calls.map(([method]) => method)).toEqual(['warn', 'error', 'fatal']);
    const traced = recording('trace');
    traced.logger.verbose?.('detail', 'Ctx');
    expect(traced.calls).toEqual([['verbose', 'detail', 'Ctx']]);
  });
});
