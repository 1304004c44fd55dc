import { Controller, createParamDecorator, ExecutionContext, HttpCode, Post, Res, UseGuards } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiResponse, ApiTags } from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { WebhookAnswer, WebhookIngestService } from './webhook-ingest.service';
import { WebhookIntakeRoute } from './webhook-route';
import { SignatureMatch, WebhookRequest, WebhookSignatureGuard } from './webhook-signature.guard';

interface VerifiedWebhook {
  rawBody: Buffer;
  signature: SignatureMatch;
}

/** The raw bytes and the signature match the guard attached; only valid behind WebhookSignatureGuard. */
const VerifiedBody = createParamDecorator((_data: unknown, context: ExecutionContext): VerifiedWebhook => {
  const request = context.switchToHttp().getRequest<WebhookRequest>();
  return { rawBody: request.rawBody ?? Buffer.alloc(0), signature: request.webhookSignature! };
});

@ApiTags('webhooks')
@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly ingest: WebhookIngestService) {}

  @Post('modelriver')
  @HttpCode(200)
  @ApiBody({
    description: 'A ModelRiver webhook (docs/protocol.md §3): task.ai_generated or task.completed, flat or wrapped in {channel_id, timestamp, data}',
    schema: { type: 'object', required: ['type', 'channel_id'], additionalProperties: true },
  })
  @ApiHeader({ name: 'mr-signature', required: false, description: 'HMAC-SHA256 hex (raw or json scheme)' })
  @ApiHeader({ name: 'x-modelriver-signature', required: false, description: 'HMAC-SHA256 hex (ts_raw or ts_data scheme)' })
  @ApiHeader({ name: 'x-modelriver-timestamp', required: false, description: 'with x-modelriver-signature' })
  @ApiResponse({ status: 200, description: '{received, delivery_id, duplicate}: stored (or already stored)' })
  @ApiResponse({ status: 202, description: '{received, quarantined, delivery_id, errors}: authentic but invalid, stored as quarantined' })
  @ApiResponse({ status: 400, description: 'validly signed body that is not JSON' })
  @ApiResponse({ status: 401, description: 'signature missing, malformed or not matching' })
  @ApiResponse({ status: 413, description: 'body over WEBHOOK_MAX_BODY_BYTES' })
  @ApiResponse({ status: 415, description: 'not application/json (or a content encoding)' })
  @ApiResponse({ status: 503, description: 'storage or queue unavailable, or shutting down; see Retry-After' })
  @WebhookIntakeRoute()
  @UseGuards(WebhookSignatureGuard)
  async receive(@VerifiedBody() webhook: VerifiedWebhook, @Res({ passthrough: true }) reply: FastifyReply): Promise<WebhookAnswer> {
    const answer = await this.ingest.ingest(webhook.rawBody, webhook.signature);
    // 202 for a quarantined delivery (stored, not processed). Set here rather than in an interceptor: this is
    // the hot path, and an interceptor costs every request an rxjs pipeline.
    if ('quarantined' in answer) reply.status(202);
    return answer;
  }
}
