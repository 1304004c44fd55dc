import { Module } from '@nestjs/common';
import { AiModule } from '../ai/ai.module';
import { DemoController } from '../demo/demo.controller';
import { AiGateway } from './ai.gateway';
import { ChannelStateStore } from './channel-state.store';
import { RealtimeListener } from './realtime.listener';
import { RealtimePublisher } from './realtime.publisher';
import { UpstreamRelay } from './upstream-relay.service';

@Module({
  imports: [AiModule],
  // The demo page is the gateway's first client.
  controllers: [DemoController],
  providers: [ChannelStateStore, AiGateway, RealtimePublisher, UpstreamRelay, RealtimeListener],
})
export class RealtimeModule {}
