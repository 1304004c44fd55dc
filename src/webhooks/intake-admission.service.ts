import { Inject, Injectable, Logger } from '@nestjs/common';
import { webhookConfig, WebhookConfig } from '../config/configuration';
import { DeliveriesRepository } from '../deliveries/deliveries.repository';
import { MetricsService } from '../metrics/metrics.service';

/** A reading younger than this is used as it is; older ones are refreshed in the background. */
const FRESH_MS = 250;
/** A reading older than this (say, after a quiet spell) is refreshed before it is used. */
const STALE_MS = 1000;

/**
 * Admission control (INTAKE_MAX_BACKLOG_AGE_MS): a new webhook is refused while the oldest due, unclaimed
 * delivery has waited longer than the limit, so a backlog never silently outgrows ModelRiver's callback window.
 * The backlog is read from the deliveries table (shared by every instance in the scale profile) at most a few
 * times a second, never per request: under load each request uses the last reading and at most one refresh runs.
 */
@Injectable()
export class IntakeAdmission {
  private readonly logger = new Logger(IntakeAdmission.name);
  private backlogAgeMs = 0;
  private readAt = 0;
  private reading?: Promise<void>;
  private refusing = false;

  constructor(
    private readonly deliveries: DeliveriesRepository,
    @Inject(webhookConfig.KEY) private readonly config: WebhookConfig,
    private readonly metrics: MetricsService,
  ) {}

  /** Whether a new delivery may join the queue now. */
  async admits(): Promise<boolean> {
    const limit = this.config.maxBacklogAgeMs;
    if (limit === 0) return true;
    const age = Date.now() - this.readAt;
    if (age > STALE_MS) await this.refresh();
    else if (age > FRESH_MS) void this.refresh();
    return this.backlogAgeMs <= limit;
  }

  /** Seconds a refused sender should wait: the part of the backlog above the limit, at least 1 s, at most 60 s. */
  retryAfterSeconds(): number {
    return Math.min(60, Math.max(1, Math.ceil((this.backlogAgeMs - this.config.maxBacklogAgeMs) / 1000)));
  }

  private refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    const now = Date.now();
    try {
      const since = await this.deliveries.dueUnclaimedSince(now);
      this.backlogAgeMs = since === undefined ? 0 : Math.max(0, now - since);
    } catch {
      // Unreadable storage admits: the insert that follows fails on its own and answers 503.
      this.backlogAgeMs = 0;
    }
    this.readAt = now;
    this.metrics.intakeBacklogAge.set(this.backlogAgeMs / 1000);
    const refusing = this.backlogAgeMs > this.config.maxBacklogAgeMs;
    if (refusing !== this.refusing) {
      this.refusing = refusing;
      if (refusing) {
        this.logger.warn(
          `refusing new webhooks (503): the oldest due delivery has waited ${Math.round(this.backlogAgeMs / 1000)} s, over INTAKE_MAX_BACKLOG_AGE_MS`,
        );
      } else {
        this.logger.log('accepting new webhooks again: the backlog is within INTAKE_MAX_BACKLOG_AGE_MS');
      }
    }
  }
}
