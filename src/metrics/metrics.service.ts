import { Inject, Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DatabaseHandles } from '../database/database.factory';
import { DATABASE_HANDLES } from '../database/database.module';
import { DeliveriesRepository, isUnfinished } from '../deliveries/deliveries.repository';

export type RejectReason = 'signature' | 'size' | 'content_type' | 'json' | 'draining' | 'storage' | 'backlog';

/** One registry for the process; counters move where things happen, gauges read the database when scraped. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly webhooks = new Counter({
    name: 'modelriver_webhooks_total',
    help: 'Webhook deliveries by outcome (rejected ones by reason)',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });

  readonly signatureSchemes = new Counter({
    name: 'modelriver_webhook_signature_scheme_total',
    help: 'Authentic webhooks by the signature scheme that matched',
    labelNames: ['scheme'] as const,
    registers: [this.registry],
  });

  readonly processing = new Histogram({
    name: 'modelriver_processing_duration_seconds',
    help: 'Processor run time per event',
    labelNames: ['event', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });

  readonly runs = new Counter({
    name: 'modelriver_job_runs_total',
    help: 'Runs of deliveries by how they started: intake (handed a free worker slot at once) or queue (claimed: backlog, retries, recovery)',
    labelNames: ['start'] as const,
    registers: [this.registry],
  });

  readonly callbacks = new Counter({
    name: 'modelriver_callbacks_total',
    help: 'Callback attempts by kind (result or error), outcome and HTTP status',
    labelNames: ['kind', 'outcome', 'status'] as const,
    registers: [this.registry],
  });

  readonly intakeBacklogAge = new Gauge({
    name: 'modelriver_intake_backlog_age_seconds',
    help: 'How long the oldest due, unclaimed delivery has waited, as admission control last read it (cluster-wide)',
    registers: [this.registry],
  });

  readonly retentionDeleted = new Counter({
    name: 'modelriver_retention_deleted_rows_total',
    help: 'Rows deleted by retention, by table (business data is never deleted)',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });

  readonly sqliteFileBytes = new Gauge({
    name: 'modelriver_sqlite_file_bytes',
    help: 'Size of the SQLite database file (without its WAL), as retention last read it',
    registers: [this.registry],
  });

  readonly sqliteFreeBytes = new Gauge({
    name: 'modelriver_sqlite_free_bytes',
    help: 'Free pages inside the SQLite file, reused by new rows or given back by incremental vacuum',
    registers: [this.registry],
  });

  readonly httpConnections = new Counter({
    name: 'modelriver_http_connections_total',
    help: 'TCP connections accepted on the HTTP port (webhooks, API, pages, WebSockets); near the request rate, whoever sends to us (a proxy, ModelRiver) opens one per request',
    registers: [this.registry],
  });

  readonly socketConnections = new Gauge({
    name: 'modelriver_socket_connections',
    help: 'socket.io connections on this instance',
    registers: [this.registry],
  });

  readonly socketSubscriptions = new Gauge({
    name: 'modelriver_socket_subscriptions',
    help: 'Channel subscriptions held by sockets on this instance',
    registers: [this.registry],
  });

  readonly upstreamConnections = new Gauge({
    name: 'modelriver_upstream_connections',
    help: 'ModelRiver Phoenix channels followed by this instance',
    registers: [this.registry],
  });

  constructor(
    @Inject(DATABASE_HANDLES) { commitStats: commits, checkpointStats: checkpoints, statementStats: statements }: DatabaseHandles,
    deliveries: DeliveriesRepository,
  ) {
    collectDefaultMetrics({ register: this.registry });
    // prom-client collects each metric as it serializes it, in registration order: the one query that feeds
    // all three database gauges hangs on the first of them, so none is ever a scrape behind.
    const byStatus: Gauge<'status'> = new Gauge({
      name: 'modelriver_deliveries',
      help: 'Deliveries by status, all but completed (dead and quarantined need an operator)',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await deliveries.countUncompleted();
        let waiting = 0;
        let oldestAt = Infinity;
        byStatus.reset();
        for (const row of rows) {
          byStatus.set({ status: row.status }, row.count);
          if (isUnfinished(row.status)) {
            waiting += row.count;
            oldestAt = Math.min(oldestAt, row.oldestAt);
          }
        }
        depth.set(waiting);
        oldest.set(Number.isFinite(oldestAt) ? (Date.now() - oldestAt) / 1000 : 0);
      },
    });
    const depth = new Gauge({
      name: 'modelriver_queue_depth',
      help: 'Deliveries waiting or running (queued, retrying, processing)',
      registers: [this.registry],
    });
    const oldest = new Gauge({
      name: 'modelriver_queue_oldest_age_seconds',
      help: 'Age of the oldest unfinished delivery',
      registers: [this.registry],
    });
    if (commits) {
      const counters: Array<[string, string, () => number]> = [
        ['modelriver_sqlite_commits_total', 'SQLite group commits (each makes the writes of one event-loop turn durable together)', () => commits.commits],
        ['modelriver_sqlite_committed_writes_total', 'Write statements made durable by SQLite group commits (per commit: divide by commits)', () => commits.statements],
        ['modelriver_sqlite_commit_seconds_total', 'Time the event loop spent in SQLite COMMIT', () => commits.commitSeconds],
        ['modelriver_sqlite_wal_syncs_total', 'fsyncs of the SQLite write-ahead log, off the event loop (SQLITE_SYNCHRONOUS=FULL)', () => commits.syncs],
        ['modelriver_sqlite_wal_sync_seconds_total', 'Time those fsyncs took (the event loop went on meanwhile)', () => commits.syncSeconds],
        ...(checkpoints
          ? ([
              ['modelriver_sqlite_checkpoints_total', 'Checkpoints (log copied into the database file) run by the background thread', () => checkpoints.checkpoints],
              ['modelriver_sqlite_checkpoint_pages_total', 'Log pages those checkpoints copied', () => checkpoints.pages],
              ['modelriver_sqlite_checkpoint_seconds_total', 'Time those checkpoints took, off the event loop', () => checkpoints.seconds],
              ['modelriver_sqlite_checkpoint_failures_total', 'Background checkpoints that failed (commits copy the log past 64 MiB meanwhile)', () => checkpoints.failures],
            ] satisfies Array<[string, string, () => number]>)
          : []),
      ];
      for (const [name, help, read] of counters) {
        new Counter({
          name,
          help,
          registers: [this.registry],
          collect() {
            this.reset();
            this.inc(read());
          },
        });
      }
    }
    if (statements) {
      new Counter({
        name: 'modelriver_postgres_statements_total',
        help: 'Statements this instance sent to PostgreSQL; prepared="true": named statements, parsed once per connection',
        labelNames: ['prepared'] as const,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc({ prepared: 'true' }, statements.prepared);
          this.inc({ prepared: 'false' }, statements.unprepared);
        },
      });
    }
  }

  rejected(reason: RejectReason): void {
    this.webhooks.inc({ outcome: reason === 'storage' ? 'unavailable' : reason === 'backlog' ? 'refused' : 'rejected', reason });
  }
}
