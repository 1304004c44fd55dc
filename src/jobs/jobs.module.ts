import { BeforeApplicationShutdown, Global, Inject, Module, OnApplicationBootstrap } from '@nestjs/common';
import { redisConfig, RedisConfig } from '../config/configuration';
import { DeliveriesModule } from '../deliveries/deliveries.module';
import { BullMqJobQueue } from './bullmq-job-queue.driver';
import { EmbeddedJobQueue } from './embedded-job-queue.driver';
import { JOB_QUEUE, JobQueue } from './job-queue.port';

/**
 * Provides the JobQueue port: the embedded driver, or BullMQ when REDIS_URL is set (drivers connect only
 * when started). Handlers register in onModuleInit; the worker starts once all have.
 */
@Global()
@Module({
  imports: [DeliveriesModule],
  providers: [
    EmbeddedJobQueue,
    BullMqJobQueue,
    {
      provide: JOB_QUEUE,
      inject: [redisConfig.KEY, EmbeddedJobQueue, BullMqJobQueue],
      useFactory: (redis: RedisConfig, embedded: EmbeddedJobQueue, bullmq: BullMqJobQueue): JobQueue =>
        redis.profile === 'scale' ? bullmq : embedded,
    },
  ],
  exports: [JOB_QUEUE],
})
export class JobsModule implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(JOB_QUEUE) private readonly queue: JobQueue) {}

  onApplicationBootstrap(): Promise<void> {
    return this.queue.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.queue.stop();
  }
}
