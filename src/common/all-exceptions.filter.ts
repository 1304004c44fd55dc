import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { ThrottlerException } from '@nestjs/throttler';
import { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './error-body';
import { ConflictError, GoneError, InvalidJsonError, InvalidRequestError, NotFoundError, OverloadedError, ServiceUnavailableError, UnprocessableError } from './errors';
import { UpstreamError } from './upstream.error';

/** Typed errors of common/errors.ts that are the caller's to fix, and their status. */
const CLIENT_ERRORS: [new (...args: never[]) => Error, number][] = [
  [InvalidJsonError, 400],
  [InvalidRequestError, 400],
  [NotFoundError, 404],
  [ConflictError, 409],
  [GoneError, 410],
  [UnprocessableError, 422],
];

/**
 * One place that turns errors into answers, all of one shape (ErrorBody: `message` is always a string); the
 * request id is the correlation id in logs and bodies. Only what is ours to fix is logged as an error, once.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger(AllExceptionsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const requestId = String(request.id);
    const send = (status: number, message: string, errors?: string[]) => void reply.status(status).send(errorBody(status, message, requestId, errors));

    if (exception instanceof ThrottlerException) {
      // The throttler set Retry-After before throwing.
      const retryAfter = Number(reply.getHeader('retry-after'));
      send(429, `too many requests; retry ${Number.isFinite(retryAfter) && retryAfter > 0 ? `in ${retryAfter} s` : 'later'}`);
      return;
    }
    const status413 = exception instanceof HttpException ? exception.getStatus() === 413 : (exception as { code?: unknown }).code === 'FST_ERR_CTP_BODY_TOO_LARGE';
    if (status413) {
      send(413, `body exceeds the ${request.routeOptions?.bodyLimit ?? 'configured'} bytes limit`);
      return;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      // A structured body that is not an error message (terminus's health report) is the answer itself.
      if (typeof response === 'object' && response !== null && !('message' in response)) {
        void reply.status(status).send(response);
        return;
      }
      const message: unknown = typeof response === 'object' && response !== null ? response.message : exception.message;
      const reasons = (Array.isArray(message) ? message : [message]).map((reason) => (typeof reason === 'string' ? reason : JSON.stringify(reason)));
      send(status, reasons.join('; '), reasons.length > 1 ? reasons : undefined);
      return;
    }
    const clientStatus = CLIENT_ERRORS.find(([type]) => exception instanceof type)?.[1];
    if (clientStatus !== undefined) {
      const error = exception as Error;
      send(clientStatus, error.message, error instanceof UnprocessableError || error instanceof InvalidRequestError ? error.errors : undefined);
      return;
    }
    if (exception instanceof ServiceUnavailableError) {
      if (!(exception instanceof OverloadedError)) {
        this.logger.error(`${request.method} ${request.url} unavailable (request ${requestId}): ${describe(exception)}`);
      }
      void reply.header('retry-after', String(exception.retryAfterSeconds));
      send(503, exception.message);
      return;
    }
    if (exception instanceof UpstreamError) {
      // The client that called ModelRiver said what went wrong; the answer says it to the caller.
      if (exception.retryAfter) void reply.header('retry-after', exception.retryAfter);
      send(exception.status, exception.message);
      return;
    }
    const fastifyError = exception as { statusCode?: unknown; message?: unknown };
    if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      // Fastify refused the request itself (a malformed body, a bad content type): the caller's to fix.
      send(fastifyError.statusCode, String(fastifyError.message));
      return;
    }
    this.logger.error(
      `${request.method} ${request.url} failed (request ${requestId}): ${describe(exception)}`,
      exception instanceof Error ? exception.stack : undefined,
    );
    send(500, 'internal error');
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
