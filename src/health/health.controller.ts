import { Controller, Get, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { sql } from 'kysely';
import { InjectDatabase } from '../database/database.module';
import { Db } from '../database/database.types';
import { JOB_QUEUE, JobQueue } from '../jobs/job-queue.port';

/** Liveness: the process answers. Readiness: the database answers and the queue's worker runs (not draining). */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @InjectDatabase() private readonly db: Db,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
  ) {}

  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      async () => {
        const indicator = this.indicators.check('database');
        try {
          await sql`select 1`.execute(this.db);
          return indicator.up();
        } catch (error) {
          return indicator.down({ message: error instanceof Error ? error.message : String(error) });
        }
      },
      async () => {
        const indicator = this.indicators.check('queue');
        const { ok, detail } = await this.queue.health();
        return ok ? indicator.up({ detail }) : indicator.down({ detail });
      },
    ]);
  }
}
