import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { aiConfig, AiConfig } from '../config/configuration';
import { DeliveriesModule } from '../deliveries/deliveries.module';
import { ModelRiverModule } from '../modelriver/modelriver.module';
import { AiRequestsRepository } from './ai-requests.repository';
import { AiController, AiReconnectController } from './ai.controller';
import { AiService } from './ai.service';
import { ApiTokenGuard } from './api-token.guard';

/**
 * Starting requests on ModelRiver (/ai/generate, the SDK's reconnect route) and the request-status read model
 * (/ai/requests/:id). It issues the subscribe tokens realtime checks; realtime depends on it, never the reverse.
 */
@Module({
  imports: [
    ModelRiverModule,
    DeliveriesModule,
    ThrottlerModule.forRootAsync({
      inject: [aiConfig.KEY],
      useFactory: (config: AiConfig) => ({ throttlers: [{ ttl: 60_000, limit: config.generateRateLimit }] }),
    }),
  ],
  controllers: [AiController, AiReconnectController],
  providers: [AiRequestsRepository, AiService, ApiTokenGuard],
  exports: [AiService, AiRequestsRepository],
})
export class AiModule {}
