import { Global, Module } from '@nestjs/common';
import { DeliveriesModule } from '../deliveries/deliveries.module';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

@Global()
@Module({ imports: [DeliveriesModule], providers: [MetricsService], controllers: [MetricsController], exports: [MetricsService] })
export class MetricsModule {}
