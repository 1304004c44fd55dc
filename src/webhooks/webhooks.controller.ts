import { Controller, createParamDecorator, ExecutionContext, HttpCode, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import { WebhookAnswerInterceptor } from './webhook-answer.interceptor';
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

@Controller('webhooks')
export class WebhooksController {
  constructor(private readonly ingest: WebhookIngestService) {}

  @Post('modelriver')
  @HttpCode(200)
  @WebhookIntakeRoute()
  @UseGuards(WebhookSignatureGuard)
  @UseInterceptors(WebhookAnswerInterceptor)
  receive(@VerifiedBody() webhook: VerifiedWebhook): Promise<WebhookAnswer> {
    return this.ingest.ingest(webhook.rawBody, webhook.signature);
  }
}
