import {
  BeforeApplicationShutdown,
  Global,
  Inject,
  Module,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { EmbeddedJobQueue } from './embedded-job-queue.driver';
import { EmbeddedQueueRepository } from './embedded-queue.repository';
import { JOB_QUEUE, JobQueue } from './job-queue.port';

/** Provides the JobQueue port. Handlers register in onModuleInit; the worker starts once all have. */
@Global()
@Module({
  providers: [EmbeddedQueueRepository, EmbeddedJobQueue, { provide: JOB_QUEUE, useExisting: EmbeddedJobQueue }],
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
