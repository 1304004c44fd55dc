import { Module } from '@nestjs/common';
import { DeliveriesModule } from '../deliveries/deliveries.module';
import { IntakeAdmission } from './intake-admission.service';
import { WebhookIngestService } from './webhook-ingest.service';
import { WebhookSignatureGuard } from './webhook-signature.guard';
import { WebhooksController } from './webhooks.controller';

/** Webhook intake only: verify, validate, store, enqueue, answer. Nothing else imports it. */
@Module({
  imports: [DeliveriesModule],
  controllers: [WebhooksController],
  providers: [WebhookIngestService, WebhookSignatureGuard, IntakeAdmission],
})
export class WebhooksModule {}
