import { Controller, Get, Inject } from '@nestjs/common';
import { ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { sql } from 'kysely';
import { LifecycleService } from '../common/lifecycle.service';
import { InjectDatabase } from '../database/database.module';
import { Db } from '../database/database.types';
import { JOB_QUEUE, JobQueue } from '../jobs/job-queue.port';

/** Liveness: the process answers. Readiness: the database (and Redis) answer and the worker runs, not draining. */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @InjectDatabase() private readonly db: Db,
    @Inject(JOB_QUEUE) private readonly queue: JobQueue,
    private readonly lifecycle: LifecycleService,
  ) {}

  @Get('live')
  @ApiResponse({ status: 200, description: 'the process answers' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  @ApiResponse({ status: 503, description: 'database, queue or Redis down, or draining for shutdown' })
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
        if (this.lifecycle.draining) return indicator.down({ detail: 'draining for shutdown' });
        const { ok, detail } = await this.queue.health();
        return ok ? indicator.up({ detail }) : indicator.down({ detail });
      },
    ]);
  }
}
