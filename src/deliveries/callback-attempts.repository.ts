import { Injectable } from '@nestjs/common';
import { InjectBackgroundDatabase, InjectDatabase } from '../database/database.module';
import { CallbackKind, CallbackOutcome, Db } from '../database/database.types';
import { newRowId } from '../database/row-id';
import { CallbackStatus, DeliveriesRepository } from './deliveries.repository';

/** One callback attempt as the callback client saw it. */
export interface CallbackAttempt {
  outcome: CallbackOutcome;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}

/** An attempt to record: which kind of callback, its number for the delivery, and what happened. */
export interface AttemptRecord {
  kind: CallbackKind;
  attempt: number;
  response: CallbackAttempt;
}

/** The callback_attempts row for an attempt. */
export const attemptRow = (deliveryId: string, { kind, attempt, response }: AttemptRecord) => ({
  id: newRowId(),
  delivery_id: deliveryId,
  kind,
  attempt,
  status_code: response.statusCode,
  duration_ms: response.durationMs,
  outcome: response.outcome,
  error: response.error,
  created_at: Date.now(),
});

/** Every callback attempt of a delivery (the callback_attempts table). */
@Injectable()
export class CallbackAttemptsRepository {
  constructor(
    @InjectDatabase() private readonly db: Db,
    /** The worker records attempts; the status and admin APIs list them. */
    @InjectBackgroundDatabase() private readonly background: Db,
    private readonly deliveries: DeliveriesRepository,
  ) {}

  /**
   * Records an attempt. With `callbackStatus` (a delivered callback), the delivery's new status goes first, as
   * a single statement, without waiting for the attempt row (bookkeeping): the sooner it lands after
   * ModelRiver's 2xx, the smaller the window in which a crash makes us call back twice.
   */
  async record(deliveryId: string, kind: CallbackKind, attempt: number, response: CallbackAttempt, callbackStatus?: CallbackStatus): Promise<void> {
    const status = callbackStatus ? this.deliveries.setCallbackStatus(deliveryId, callbackStatus) : undefined;
    const row = this.background.insertInto('callback_attempts').values(attemptRow(deliveryId, { kind, attempt, response })).execute();
    await Promise.all([status, row]);
  }

  list(deliveryId: string) {
    return this.db.selectFrom('callback_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('created_at').execute();
  }

  /**
   * How many callback attempts of each of these deliveries did not get through (those with none are absent): one
   * indexed query. A delivered one is left out, e.g. the error callback of a dead delivery that was replayed since.
   */
  async countFailed(deliveryIds: readonly string[]): Promise<Map<string, number>> {
    if (deliveryIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('callback_attempts')
      .select(['delivery_id', (eb) => eb.fn.countAll<number | string>().as('count')])
      .where('delivery_id', 'in', deliveryIds)
      .where('outcome', '<>', 'delivered')
      .groupBy('delivery_id')
      .execute();
    return new Map(rows.map((row) => [row.delivery_id, Number(row.count)]));
  }
}
