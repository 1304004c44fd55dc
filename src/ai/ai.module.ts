import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { aiConfig, AiConfig } from '../config/configuration';
import { EventHandlersModule } from '../event-handlers/event-handlers.module';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { AiRequestsRepository } from './ai-requests.repository';
import { AiController, AiReconnectController } from './ai.controller';
import { AiService } from './ai.service';
import { ApiTokenGuard } from './api-token.guard';
import { ModelRiverTriggerClient } from './modelriver-trigger.client';

@Module({
  imports: [
    HttpModule,
    WebhooksModule,
    EventHandlersModule,
    ThrottlerModule.forRootAsync({
      inject: [aiConfig.KEY],
      useFactory: (config: AiConfig) => ({ throttlers: [{ ttl: 60_000, limit: config.generateRateLimit }] }),
    }),
  ],
  controllers: [AiController, AiReconnectController],
  providers: [ModelRiverTriggerClient, AiRequestsRepository, AiService, ApiTokenGuard],
  exports: [ModelRiverTriggerClient, AiRequestsRepository, AiService],
})
export class AiModule {}
