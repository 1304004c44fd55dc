import { STATUS_CODES } from 'node:http';
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import { ConflictError, GoneError, InvalidJsonError, InvalidRequestError, NotFoundError, OverloadedError, ServiceUnavailableError, UnprocessableError } from './errors';
import { UpstreamError } from './upstream.error';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
  /** Every reason, when there are several (validation). */
  errors?: string[];
  request_id: string;
}

/** Typed errors of common/errors.ts that are the caller's to fix, and their status. */
const CLIENT_ERRORS: [new (...args: never[]) => Error, number][] = [
  [InvalidJsonError, 400],
  [InvalidRequestError, 400],
  [NotFoundError, 404],
  [ConflictError, 409],
  [GoneError, 410],
  [UnprocessableError, 422],
];

/** One place that turns errors into answers; the request id is the correlation id in logs and bodies. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger(AllExceptionsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const requestId = String(request.id);
    const body = (status: number, error: string, message: string | string[]): ErrorBody => ({
      statusCode: status,
      error,
      message,
      request_id: requestId,
    });

    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      // A structured body that is not an error message (terminus's health report) is the answer itself.
      if (typeof response === 'object' && response !== null && !('message' in response)) {
        void reply.status(status).send(response);
        return;
      }
      const message =
        typeof response === 'object' && response !== null && 'message' in response
          ? (response as { message: string | string[] }).message
          : exception.message;
      void reply.status(status).send(body(status, STATUS_CODES[status] ?? 'Error', message));
      return;
    }
    const clientStatus = CLIENT_ERRORS.find(([type]) => exception instanceof type)?.[1];
    if (clientStatus !== undefined) {
      const error = exception as Error;
      const errors = error instanceof UnprocessableError ? { errors: error.errors } : {};
      void reply.status(clientStatus).send({ ...body(clientStatus, STATUS_CODES[clientStatus] ?? 'Error', error.message), ...errors });
      return;
    }
    if (exception instanceof ServiceUnavailableError) {
      if (!(exception instanceof OverloadedError)) {
        this.logger.error(`${request.method} ${request.url} unavailable (request ${requestId}): ${describe(exception)}`);
      }
      void reply
        .status(503)
        .header('retry-after', String(exception.retryAfterSeconds))
        .send(body(503, 'Service Unavailable', exception.message));
      return;
    }
    if (exception instanceof UpstreamError) {
      const log = exception.status === 400 || exception.status === 429 ? 'warn' : 'error';
      this.logger[log](`${request.method} ${request.url} upstream (request ${requestId}): ${describe(exception)}`);
      if (exception.retryAfter) void reply.header('retry-after', exception.retryAfter);
      void reply.status(exception.status).send(body(exception.status, STATUS_CODES[exception.status] ?? 'Error', exception.message));
      return;
    }
    this.logger.error(
      `${request.method} ${request.url} failed (request ${requestId}): ${describe(exception)}`,
      exception instanceof Error ? exception.stack : undefined,
    );
    void reply.status(500).send(body(500, 'Internal Server Error', 'internal error'));
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
