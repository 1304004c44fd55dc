import { Module } from '@nestjs/common';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { DeliveryDispatcher } from './delivery-dispatcher.service';

@Module({
  imports: [WebhooksModule],
  providers: [DeliveryDispatcher],
})
export class EventHandlersModule {}
