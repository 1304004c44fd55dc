import { applyDecorators } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { errorBody } from '../common/error-body';

const WEBHOOK_INTAKE = 'webhookIntake';

/**
 * Marks a route as a signed-webhook intake: its body is limited to WEBHOOK_MAX_BODY_BYTES, must be JSON,
 * and is kept as raw bytes, unparsed, until the signature guard has checked them.
 */
export const WebhookIntakeRoute = (): MethodDecorator => applyDecorators(RouteConfig({ [WEBHOOK_INTAKE]: true }));

export function isWebhookIntake(request: FastifyRequest): boolean {
  const config = request.routeOptions?.config as unknown as Record<string, unknown> | undefined;
  return config?.[WEBHOOK_INTAKE] === true;
}

function reject(reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  return reply.code(statusCode).send(errorBody(statusCode, message, String(reply.request.id)));
}

export interface IntakeGateOptions {
  maxBodyBytes: number;
  /** Counts a refusal (metrics); `draining` refuses everything with 503 during shutdown. */
  onReject: (reason: 'size' | 'content_type' | 'draining') => void;
  draining: () => boolean;
}

/** 503 while draining, 413 before anything is read or hashed, then 415; all decided from the headers alone. */
function intakeGate({ maxBodyBytes, onReject, draining }: IntakeGateOptions): onRequestHookHandler {
  return (request, reply, done) => {
    if (draining()) {
      onReject('draining');
      // Connection: close sends the client's next attempt to a new connection, which a load balancer gives
      // another instance, and leaves no keep-alive connection to hold this server's close open.
      void reply.header('retry-after', '5').header('connection', 'close');
      reject(reply, 503, 'shutting down; retry shortly');
      return;
    }
    const length = Number(request.headers['content-length']);
    if (Number.isFinite(length) && length > maxBodyBytes) {
      onReject('size');
      reject(reply, 413, `body exceeds the ${maxBodyBytes} bytes limit (WEBHOOK_MAX_BODY_BYTES)`);
      return;
    }
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      onReject('content_type');
      reject(reply, 415, 'content-encoding is not supported; send the body as is');
      return;
    }
    const [mediaType, ...params] = (request.headers['content-type'] ?? '').split(';');
    const charset = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('charset='));
    if (
      mediaType.trim().toLowerCase() !== 'application/json' ||
      (charset !== undefined && charset !== 'charset=utf-8')
    ) {
      onReject('content_type');
      reject(reply, 415, 'content-type must be application/json');
      return;
    }
    done();
  };
}

/** Must run before routes are registered (configureApp, before init). */
export function installWebhookIntakeHooks(fastify: FastifyInstance, options: IntakeGateOptions): void {
  fastify.addHook('onRoute', (route) => {
    const config = route.config as Record<string, unknown> | undefined;
    if (config?.[WEBHOOK_INTAKE] !== true) return;
    // The route's own limit wins over the parser's, so chunked bodies are cut at the same size.
    route.bodyLimit = options.maxBodyBytes;
    const existing = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [intakeGate(options), ...existing];
  });
  // A chunked body that outgrows the limit is cut by Fastify's parser: count it too.
  fastify.addHook('onError', (request, _reply, error, done) => {
    if (isWebhookIntake(request) && (error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') options.onReject('size');
    done();
  });
}
