import { DynamicModule, Module } from '@nestjs/common';
import { AppConfigModule, AppConfigOptions } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { EventHandlersModule } from './event-handlers/event-handlers.module';
import { JobsModule } from './jobs/jobs.module';
import { WebhooksModule } from './webhooks/webhooks.module';

@Module({})
export class AppModule {
  /** A function, not a static import, so every app (and every test app) validates its own environment. */
  static forRoot(options: AppConfigOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [AppConfigModule.forRoot(options), DatabaseModule, JobsModule, WebhooksModule, EventHandlersModule],
    };
  }
}
