import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AiRequestsRepository } from '../ai/ai-requests.repository';
import { retentionConfig, RetentionConfig } from '../config/configuration';
import { DatabaseHandles } from '../database/database.factory';
import { DATABASE_HANDLES } from '../database/database.module';
import { releaseFreePages, sqliteSpace } from '../database/sqlite-space';
import { DeliveryStatus } from '../database/database.types';
import { DeliveryPurgeRepository } from '../deliveries/delivery-purge.repository';
import { MetricsService } from '../metrics/metrics.service';

/**
 * Rows per delete batch, and the pause between batches. Deleting a delivery costs about 20 µs of the event loop
 * (its row, its attempts, five index entries), so a batch holds intake back for about a millisecond; at most
 * about 4,000 rows a second go, well above what one instance takes in.
 */
export const PURGE_BATCH = 50;
const PAUSE_MS = 10;
/** Free pages kept for reuse (a tenth of the file); beyond that they go back to the file system, 1,000 at a time. */
const FREE_SLACK = 0.1;
const RELEASE_STEP_PAGES = 1000;
/** How often an info line sums up what was deleted. */
const REPORT_EVERY_MS = 10 * 60_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Retention: deletes completed deliveries after DELIVERY_RETENTION and dead or quarantined ones after
 * FAILED_RETENTION (each with its callback attempts and audit trail), and started requests after the longer of
 * the two; business data (contents, entities, task results) stays. It runs in small batches with pauses, off the
 * request path, on every instance (PostgreSQL shares the work out with SKIP LOCKED). On SQLite it then gives free
 * space beyond a reuse margin back to the file system.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RetentionService.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopping = false;
  private readonly intervalMs: number;
  private unreported = { completed: 0, failed: 0, requests: 0 };
  private lastReport = Date.now();

  constructor(
    @Inject(retentionConfig.KEY) private readonly config: RetentionConfig,
    @Inject(DATABASE_HANDLES) private readonly handles: DatabaseHandles,
    private readonly deliveries: DeliveryPurgeRepository,
    private readonly requests: AiRequestsRepository,
    private readonly metrics: MetricsService,
  ) {
    // A tenth of the shortest retention, between 1 s and a minute: rows outlive their setting by at most that.
    const shortest = Math.min(config.completedMs ?? Infinity, config.failedMs ?? Infinity);
    this.intervalMs = Math.min(60_000, Math.max(1000, Math.floor(shortest / 10)));
  }

  async onApplicationBootstrap(): Promise<void> {
    const { completed, failed } = this.config;
    this.logger.debug(`keeping completed deliveries ${completed}, dead and quarantined ${failed}; checking every ${this.intervalMs / 1000} s`);
    if (this.handles.dialect === 'sqlite') {
      const space = await sqliteSpace(this.handles.db);
      if (space.autoVacuum !== 'incremental') {
        this.logger.log('this SQLite file was created without incremental vacuum: space retention frees is reused, but the file does not shrink (a backup and restore converts it)');
      }
    }
    if (this.config.completedMs === undefined && this.config.failedMs === undefined) return;
    this.schedule(Math.min(this.intervalMs, 5000));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass over every class of row, to the end of what is due now, after any pass already running. */
  runOnce(): Promise<void> {
    const pass: Promise<void> = (this.running ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.round())
      .finally(() => {
        if (this.running === pass) this.running = undefined;
      });
    this.running = pass;
    return pass;
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      void this.runOnce()
        .catch((error: unknown) => this.logger.warn(`retention pass failed (retried in ${this.intervalMs / 1000} s): ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => this.schedule(this.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    const now = Date.now();
    const { completedMs, failedMs } = this.config;
    if (completedMs !== undefined) this.unreported.completed += await this.purgeDeliveries(['completed'], now - completedMs);
    if (failedMs !== undefined) this.unreported.failed += await this.purgeDeliveries(['dead', 'quarantined'], now - failedMs);
    if (completedMs !== undefined && failedMs !== undefined) {
      const before = now - Math.max(completedMs, failedMs);
      this.unreported.requests += await this.drain(async () => {
        const requests = await this.requests.purgeBatch(before, PURGE_BATCH);
        this.metrics.retentionDeleted.inc({ table: 'ai_requests' }, requests);
        return requests;
      });
    }
    if (this.handles.dialect === 'sqlite') await this.reclaimSqliteSpace();
    this.report();
  }

  /** Deliveries in `statuses` older than `before`, with what hangs off them, counted per table. */
  private purgeDeliveries(statuses: readonly DeliveryStatus[], before: number): Promise<number> {
    return this.drain(async () => {
      const purged = await this.deliveries.purgeBatch(statuses, before, PURGE_BATCH);
      this.metrics.retentionDeleted.inc({ table: 'webhook_deliveries' }, purged.deliveries);
      this.metrics.retentionDeleted.inc({ table: 'callback_attempts' }, purged.callbackAttempts);
      this.metrics.retentionDeleted.inc({ table: 'admin_audit' }, purged.auditEntries);
      return purged.deliveries;
    });
  }

  /** Batches until one comes back short (caught up) or shutdown begins; how many rows the batches deleted. */
  private async drain(batch: () => Promise<number>): Promise<number> {
    let total = 0;
    while (!this.stopping) {
      const deleted = await batch();
      total += deleted;
      if (deleted < PURGE_BATCH) break;
      await sleep(PAUSE_MS);
    }
    return total;
  }

  /** Free pages beyond a tenth of the file go back to the file system, a step at a time. */
  private async reclaimSqliteSpace(): Promise<void> {
    let space = await sqliteSpace(this.handles.db);
    while (!this.stopping && space.autoVacuum === 'incremental') {
      const excess = space.freePages - Math.floor(space.pages * FREE_SLACK);
      if (excess < RELEASE_STEP_PAGES / 4) break;
      await releaseFreePages(this.handles.db, Math.min(excess, RELEASE_STEP_PAGES));
      space = await sqliteSpace(this.handles.db);
      await sleep(PAUSE_MS);
    }
    this.metrics.sqliteFileBytes.set(space.pages * space.pageSize);
    this.metrics.sqliteFreeBytes.set(space.freePages * space.pageSize);
  }

  private report(): void {
    const { completed, failed, requests } = this.unreported;
    if (completed + failed + requests === 0 || Date.now() - this.lastReport < REPORT_EVERY_MS) return;
    this.logger.log(`retention deleted ${completed} completed and ${failed} dead or quarantined deliveries, and ${requests} requests, since ${new Date(this.lastReport).toISOString()}`);
    this.unreported = { completed: 0, failed: 0, requests: 0 };
    this.lastReport = Date.now();
  }
}
