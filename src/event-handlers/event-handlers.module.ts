import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { CallbackAttemptsRepository } from './callback/callback-attempts.repository';
import { CallbackSender } from './callback/callback-sender.service';
import { ModelRiverCallbackClient } from './callback/modelriver-callback.client';
import { DeliveryDispatcher } from './delivery-dispatcher.service';
import { ProcessorRegistry } from './processor-registry.service';
import { ContentReadyProcessor } from './processors/content-ready.processor';
import { EntitiesExtractedProcessor } from './processors/entities-extracted.processor';
import { TaskCompletedProcessor } from './processors/task-completed.processor';

export const BUILT_IN_PROCESSORS = [ContentReadyProcessor, EntitiesExtractedProcessor, TaskCompletedProcessor];

@Module({
  imports: [WebhooksModule, DiscoveryModule],
  providers: [
    ...BUILT_IN_PROCESSORS,
    ProcessorRegistry,
    ModelRiverCallbackClient,
    CallbackAttemptsRepository,
    CallbackSender,
    DeliveryDispatcher,
  ],
  exports: [CallbackAttemptsRepository],
})
export class EventHandlersModule {}
