import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { ModelRiverCallbackClient } from './modelriver-callback.client';
import { ModelRiverTriggerClient } from './modelriver-trigger.client';

/**
 * Everything that calls ModelRiver: starting and reconnecting requests (trigger client) and posting results
 * back to a delivery's callback URL (callback client, with its URL policy). The only module that opens
 * connections to ModelRiver; features use its clients.
 */
@Module({
  imports: [HttpModule],
  providers: [ModelRiverTriggerClient, ModelRiverCallbackClient],
  exports: [ModelRiverTriggerClient, ModelRiverCallbackClient],
})
export class ModelRiverModule {}
