import { Module } from '@nestjs/common';
import { DeliveriesRepository } from './deliveries.repository';
import { WebhookIngestService } from './webhook-ingest.service';
import { WebhookSignatureGuard } from './webhook-signature.guard';
import { WebhooksController } from './webhooks.controller';

@Module({
  controllers: [WebhooksController],
  providers: [DeliveriesRepository, WebhookIngestService, WebhookSignatureGuard],
  exports: [DeliveriesRepository],
})
export class WebhooksModule {}
