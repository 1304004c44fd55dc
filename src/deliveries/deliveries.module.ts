import { Module } from '@nestjs/common';
import { CallbackAttemptsRepository } from './callback-attempts.repository';
import { DeliveriesRepository } from './deliveries.repository';
import { DeliveriesService } from './deliveries.service';
import { DeliveryPurgeRepository } from './delivery-purge.repository';
import { DeliveryStateRepository } from './delivery-state.repository';

/**
 * The home of a delivery: the webhook_deliveries table (with its callback attempts and audit trail), its
 * state transitions, dedupe keys and stored-payload format. The only writer of those tables: intake,
 * the queue drivers, the worker and the admin API all go through here.
 */
@Module({
  providers: [DeliveriesRepository, DeliveryStateRepository, CallbackAttemptsRepository, DeliveriesService, DeliveryPurgeRepository],
  exports: [DeliveriesRepository, DeliveryStateRepository, CallbackAttemptsRepository, DeliveriesService, DeliveryPurgeRepository],
})
export class DeliveriesModule {}
