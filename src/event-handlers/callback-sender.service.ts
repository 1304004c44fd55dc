import { Inject, Injectable, Logger } from '@nestjs/common';
import { callbackConfig, CallbackConfig } from '../config/configuration';
import { CallbackKind } from '../database/database.types';
import { backoffDelay } from '../jobs/backoff';
import { MetricsService } from '../metrics/metrics.service';
import { JsonObject, merged } from '../common/json';
import { AttemptRecord, CallbackAttemptsRepository } from '../deliveries/callback-attempts.repository';
import { checkCallbackUrl } from '../modelriver/callback-url.policy';
import { CallbackResponse, ModelRiverCallbackClient } from '../modelriver/modelriver-callback.client';

export interface CallbackTarget {
  deliveryId: string;
  channelId: string;
  callbackUrl: string;
  /** When the webhook arrived: ModelRiver's callback window runs from about then. */
  receivedAt: number;
}

declare const checkedUrl: unique symbol;

/** A target whose URL passed `CallbackSender.check`, parsed: only `check` makes one, so no result goes to an unchecked URL. */
export type CheckedTarget = CallbackTarget & { readonly url: URL; readonly [checkedUrl]: true };

export type TargetCheck = { ok: true; target: CheckedTarget } | { ok: false; reason: string };

export type CallbackResult =
  /** `unrecorded`: a result's delivered attempt, for the caller to record with the delivery's completion. */
  | { status: 'delivered'; statusCode: number | null; unrecorded?: AttemptRecord }
  | { status: 'failed'; reason: string; attempts: number }
  | { status: 'refused'; reason: string };

/** What the job running the callback provides (a JobContext does). */
export interface SendContext {
  /** Shutdown started: make no further attempts. */
  draining: AbortSignal;
  /** Shutdown's grace is over: abandon the attempt in flight. */
  signal: AbortSignal;
  /** Resolves once what the job wrote is durable: no result goes out before what led to it would survive a crash. */
  persisted(): Promise<void>;
}

/** Waits `ms`, or less if `signal` aborts. The listener goes when the wait ends: the signal is shared by every job. */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', wake);
      resolve();
    }, ms);
    signal.addEventListener('abort', wake, { once: true });
  });

/**
 * Sends callbacks inside ModelRiver's 5-minute window (CALLBACK_BUDGET_MS from the webhook's arrival):
 * results with retries (backoff + jitter, Retry-After honoured) whose every attempt ends one timeout before
 * the budget does, leaving that last slot for the error callback.
 */
@Injectable()
export class CallbackSender {
  private readonly logger = new Logger(CallbackSender.name);

  constructor(
    private readonly client: ModelRiverCallbackClient,
    private readonly attempts: CallbackAttemptsRepository,
    @Inject(callbackConfig.KEY) private readonly config: CallbackConfig,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Checks the URL without connecting, once per run: before any work is done for a result, and before an error
   * callback. The checked target carries the parsed URL to the send.
   */
  check(target: CallbackTarget): TargetCheck {
    const checked = checkCallbackUrl(target.callbackUrl, target.channelId, this.config);
    return checked.ok ? { ok: true, target: merged(target, { url: checked.url }) as CheckedTarget } : checked;
  }

  sendResult(target: CheckedTarget, data: JsonObject, event: string | null, context: SendContext): Promise<CallbackResult> {
    const body = { data, task_id: `task_${target.deliveryId}`, metadata: { delivery_id: target.deliveryId, event } };
    const lastStart = target.receivedAt + this.config.budgetMs - 2 * this.config.timeoutMs;
    return this.send(target, 'result', body, lastStart, context);
  }

  /** Exactly one attempt: the user must hear that processing failed, but not twice. */
  sendError(target: CallbackTarget, message: string, context: SendContext): Promise<CallbackResult> {
    const checked = this.check(target);
    if (!checked.ok) {
      this.metrics.callbacks.inc({ kind: 'error', outcome: 'refused', status: 'none' });
      return Promise.resolve({ status: 'refused', reason: checked.reason });
    }
    const body = { error: 'processing_failed', message };
    return this.send(checked.target, 'error', body, 0, context);
  }

  /** `lastStart`: no retry starts after it (the first attempt always goes out, even late). */
  private async send(
    target: CheckedTarget,
    kind: CallbackKind,
    body: JsonObject,
    lastStart: number,
    context: SendContext,
  ): Promise<CallbackResult> {
    // A result ModelRiver has seen must never be undone by a crash: e.g. a content row lost with the log's last
    // unsynced pages would be created again under a new id and called back differently. An error callback
    // reports nothing stored and goes out regardless: the user must hear that processing failed, even if
    // storage itself is what failed.
    if (kind === 'result') await context.persisted();
    const { draining, signal } = context;
    let last: CallbackResponse | undefined;
    let attempts = 0;
    for (let attempt = 1; !draining.aborted || attempt === 1; attempt++) {
      attempts = attempt;
      last = await this.client.post(target.url, body, this.config.timeoutMs, signal);
      this.metrics.callbacks.inc({ kind, outcome: last.outcome, status: String(last.statusCode ?? 'none') });
      if (last.outcome === 'delivered') {
        this.logger.log(`${kind} callback for delivery ${target.deliveryId} delivered (${last.statusCode}, attempt ${attempt})`);
        // The smaller the gap between ModelRiver's 2xx and the record of it, the smaller the window in which a
        // crash makes us call back twice. A result's attempt is recorded by the delivery's completion, which the
        // caller writes at once (one statement on PostgreSQL); an error callback's status is written here.
        if (kind === 'result') return { status: 'delivered', statusCode: last.statusCode, unrecorded: { kind, attempt, response: last } };
        await this.attempts.record(target.deliveryId, kind, attempt, last, 'error_sent');
        return { status: 'delivered', statusCode: last.statusCode };
      }
      await this.attempts.record(target.deliveryId, kind, attempt, last);
      if (last.outcome === 'refused') return { status: 'refused', reason: last.error ?? 'refused' };
      if (last.outcome === 'final') break;
      const wait = Math.max(
        last.retryAfterMs ?? 0,
        backoffDelay(attempt, { baseMs: this.config.retryBaseMs, maxMs: this.config.retryMaxMs }),
      );
      if (Date.now() + wait > lastStart) break;
      this.logger.warn(`${kind} callback for delivery ${target.deliveryId} attempt ${attempt}: ${last.error}; retry in ${wait} ms`);
      await sleep(wait, draining);
    }
    const reason = draining.aborted ? 'interrupted by shutdown' : (last?.error ?? 'not sent');
    return { status: 'failed', reason, attempts };
  }
}
