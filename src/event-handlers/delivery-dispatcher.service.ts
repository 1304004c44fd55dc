import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { JOB_QUEUE, DeliveryJob, DeliveryJobHandler, JobContext, JobQueue, PermanentJobError } from '../jobs/job-queue.port';
import { DeliveriesRepository } from '../webhooks/deliveries.repository';

/** The worker side of a delivery: the one handler of the JobQueue. */
@Injectable()
export class DeliveryDispatcher implements DeliveryJobHandler, OnModuleInit {
  private readonly logger = new Logger(DeliveryDispatcher.name);

  constructor(
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    private readonly deliveries: DeliveriesRepository,
  ) {}

  onModuleInit(): void {
    this.queue.setHandler(this);
  }

  async handle(job: DeliveryJob, context: JobContext): Promise<void> {
    const delivery = await this.deliveries.findById(job.deliveryId);
    if (!delivery) throw new PermanentJobError(`delivery ${job.deliveryId} does not exist`);
    this.logger.debug(`processed delivery ${delivery.id} (attempt ${context.attempt})`);
  }

  onDead(job: DeliveryJob, error: Error): Promise<void> {
    this.logger.error(`delivery ${job.deliveryId} is dead: ${error.message}`);
    return Promise.resolve();
  }
}
