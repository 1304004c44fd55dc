import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { DeliveriesModule } from '../deliveries/deliveries.module';
import { ModelRiverModule } from '../modelriver/modelriver.module';
import { CallbackSender } from './callback-sender.service';
import { DeliveryDispatcher } from './delivery-dispatcher.service';
import { EVENT_ROUTES } from './events/modelriver-event';
import { EVENT_ROUTING, ProcessorRegistry } from './processor-registry.service';
import { ContentReadyProcessor } from './processors/content-ready.processor';
import { EntitiesExtractedProcessor } from './processors/entities-extracted.processor';
import { TaskCompletedProcessor } from './processors/task-completed.processor';

const BUILT_IN_PROCESSORS = [ContentReadyProcessor, EntitiesExtractedProcessor, TaskCompletedProcessor];

/** The worker side: the queue's one handler (the dispatcher), the processors it routes to, and the callback. */
@Module({
  imports: [DeliveriesModule, ModelRiverModule, DiscoveryModule],
  providers: [...BUILT_IN_PROCESSORS, { provide: EVENT_ROUTING, useValue: EVENT_ROUTES }, ProcessorRegistry, CallbackSender, DeliveryDispatcher],
})
export class EventHandlersModule {}
