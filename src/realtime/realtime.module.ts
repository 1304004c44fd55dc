import { Module } from '@nestjs/common';
import { AiModule } from '../ai/ai.module';
import { ModelRiverModule } from '../modelriver/modelriver.module';
import { AiGateway } from './ai.gateway';
import { ChannelSnapshotService } from './channel-snapshot.service';
import { ChannelStateStore } from './channel-state.store';
import { ChannelWatch } from './channel-watch.service';
import { PlainSocketGateway } from './plain-socket.gateway';
import { RealtimeListener } from './realtime.listener';
import { RealtimePublisher } from './realtime.publisher';
import { UpstreamRelay } from './upstream-relay.service';

/**
 * Live events for browsers: the socket.io gateway and the plain-WebSocket route, ModelRiver's Phoenix channel
 * relayed, and our own progress.
 */
@Module({
  imports: [AiModule, ModelRiverModule],
  providers: [ChannelStateStore, ChannelWatch, ChannelSnapshotService, AiGateway, PlainSocketGateway, RealtimePublisher, UpstreamRelay, RealtimeListener],
})
export class RealtimeModule {}
