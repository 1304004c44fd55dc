import { applyDecorators } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';

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

function reject(reply: FastifyReply, statusCode: number, error: string, message: string): FastifyReply {
  return reply.code(statusCode).send({ statusCode, error, message, request_id: String(reply.request.id) });
}

/** 413 before anything is read or hashed, then 415; both are decided from the headers alone. */
function intakeGate(maxBodyBytes: number): onRequestHookHandler {
  return (request, reply, done) => {
    const length = Number(request.headers['content-length']);
    if (Number.isFinite(length) && length > maxBodyBytes) {
      reject(reply, 413, 'Payload Too Large', `body exceeds ${maxBodyBytes} bytes`);
      return;
    }
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      reject(reply, 415, 'Unsupported Media Type', 'content-encoding is not supported; send the body as is');
      return;
    }
    const [mediaType, ...params] = (request.headers['content-type'] ?? '').split(';');
    const charset = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('charset='));
    if (
      mediaType.trim().toLowerCase() !== 'application/json' ||
      (charset !== undefined && charset !== 'charset=utf-8')
    ) {
      reject(reply, 415, 'Unsupported Media Type', 'content-type must be application/json');
      return;
    }
    done();
  };
}

/** Must run before routes are registered (configureApp, before init). */
export function installWebhookIntakeHooks(fastify: FastifyInstance, maxBodyBytes: number): void {
  fastify.addHook('onRoute', (route) => {
    const config = route.config as Record<string, unknown> | undefined;
    if (config?.[WEBHOOK_INTAKE] !== true) return;
    // The route's own limit wins over the parser's, so chunked bodies are cut at the same size.
    route.bodyLimit = maxBodyBytes;
    const existing = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [intakeGate(maxBodyBytes), ...existing];
  });
}
