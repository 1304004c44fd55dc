import { DynamicModule, Module, ModuleMetadata } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { AdminModule } from './admin/admin.module';
import { AiModule } from './ai/ai.module';
import { CommonModule } from './common/common.module';
import { LoggingModule } from './common/logging.module';
import { AppConfigModule, AppConfigOptions } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { DemoModule } from './demo/demo.module';
import { EventHandlersModule } from './event-handlers/event-handlers.module';
import { HealthModule } from './health/health.module';
import { JobsModule } from './jobs/jobs.module';
import { MetricsModule } from './metrics/metrics.module';
import { RealtimeModule } from './realtime/realtime.module';
import { RetentionModule } from './retention/retention.module';
import { SandboxModule } from './sandbox/sandbox.module';
import { WebhooksModule } from './webhooks/webhooks.module';

export interface AppOptions extends AppConfigOptions {
  /** Extra modules beside the application's own (tests add fakes at the edges here). */
  imports?: ModuleMetadata['imports'];
}

@Module({})
export class AppModule {
  /** A function, not a static import, so every app (and every test app) validates its own environment. */
  static forRoot({ imports = [], ...options }: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(options),
        LoggingModule,
        CommonModule,
        EventEmitterModule.forRoot({ wildcard: false }),
        DatabaseModule,
        MetricsModule,
        JobsModule,
        WebhooksModule,
        EventHandlersModule,
        AiModule,
        RealtimeModule,
        DemoModule,
        SandboxModule,
        HealthModule,
        AdminModule,
        RetentionModule,
        ...imports,
      ],
    };
  }
}
