import { Module } from '@nestjs/common';
import { AiModule } from '../ai/ai.module';
import { DeliveriesModule } from '../deliveries/deliveries.module';
import { RetentionService } from './retention.service';

/** The data lifecycle: finished deliveries and old requests are deleted after their retention. */
@Module({
  imports: [DeliveriesModule, AiModule],
  providers: [RetentionService],
  exports: [RetentionService],
})
export class RetentionModule {}
