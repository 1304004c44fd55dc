import { randomUUID } from 'node:crypto';
import { Module } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { Insertable } from 'kysely';
import { AppConfigModule } from '../../src/config/config.module';
import { DATABASE, DatabaseModule, WRITE_BARRIER } from '../../src/database/database.module';
import { CLAIMED_COLUMNS, Db, WebhookDeliveriesTable } from '../../src/database/database.types';
import { WriteBarrier } from '../../src/database/write-barrier';
import { DeliveryJob, DeliveryJobHandler, JOB_QUEUE, JobContext, JobQueue, PermanentJobError } from '../../src/jobs/job-queue.port';
import { JobsModule } from '../../src/jobs/jobs.module';
import { MetricsModule } from '../../src/metrics/metrics.module';
import { BASE_TEST_ENV, waitFor } from '../helpers/create-test-app';
import { harnessLogger } from '../helpers/quiet-nest-logs';

type Behaviour = (attempt: number) => 'ok' | 'retry' | 'permanent' | 'hang';

/** A hand-written fake of the one handler: scripted outcomes, and a record of every call. */
export class ScriptedHandler implements DeliveryJobHandler {
  readonly calls: { deliveryId: string; attempt: number; at: number; claimed?: { id: string; status: string; attempts: number } }[] = [];
  readonly dead: { deliveryId: string; error: string }[] = [];
  readonly scripts = new Map<string, Behaviour>();

  async handle(job: DeliveryJob, context: JobContext): Promise<void> {
    const claimed = context.claimed && { id: context.claimed.id, status: context.claimed.status, attempts: context.claimed.attempts };
    this.calls.push({ deliveryId: job.deliveryId, attempt: context.attempt, at: Date.now(), claimed });
    switch ((this.scripts.get(job.deliveryId) ?? (() => 'ok'))(context.attempt)) {
      case 'retry':
        throw new Error(`transient failure ${context.attempt}`);
      case 'permanent':
        throw new PermanentJobError('cannot ever work');
      case 'hang':
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
        throw new Error('abandoned');
    }
  }

  onDead(job: DeliveryJob, error: Error): Promise<void> {
    this.dead.push({ deliveryId: job.deliveryId, error: error.message });
    return Promise.resolve();
  }

  runs(deliveryId: string) {
    return this.calls.filter((call) => call.deliveryId === deliveryId);
  }
}

@Module({ imports: [DatabaseModule, MetricsModule, JobsModule] })
class QueueHarnessModule {}

export interface QueueInstance {
  moduleRef: TestingModule;
  queue: JobQueue;
  handler: ScriptedHandler;
  db: Db;
}

export const CONTRACT_ENV = {
  QUEUE_MAX_ATTEMPTS: '3',
  QUEUE_BACKOFF_BASE_MS: '100',
  QUEUE_BACKOFF_MAX_MS: '400',
  QUEUE_LEASE_MS: '1000',
  QUEUE_POLL_INTERVAL_MS: '50',
  QUEUE_SHUTDOWN_GRACE_MS: '0',
};

/** The queue with only its own dependencies, configured exactly as the app configures it. */
export async function startQueue(env: Record<string, string>): Promise<QueueInstance> {
  const saved = { ...process.env };
  Object.assign(process.env, BASE_TEST_ENV, CONTRACT_ENV, env);
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [AppConfigModule.forRoot({ envFile: false }), QueueHarnessModule],
    })
      .setLogger(harnessLogger())
      .compile();
    const queue = moduleRef.get<JobQueue>(JOB_QUEUE);
    const handler = new ScriptedHandler();
    queue.setHandler(handler);
    await moduleRef.init();
    return { moduleRef, queue, handler, db: moduleRef.get<Db>(DATABASE) };
  } finally {
    process.env = saved;
  }
}

/** Stores a due, queued delivery; `fields` overrides any column (a claim, a backoff, an age). */
export async function storeDelivery(db: Db, fields?: Partial<Insertable<WebhookDeliveriesTable>>): Promise<string> {
  const id = randomUUID();
  const now = Date.now();
  await db
    .insertInto('webhook_deliveries')
    .values({
      id,
      dedupe_key: `${id}:task.ai_generated`,
      channel_id: id,
      type: 'task.ai_generated',
      event: 'contract',
      status: 'queued',
      attempts: 0,
      next_run_at: now,
      payload: '{}',
      signature_scheme: 'raw',
      signature_secret_index: 0,
      created_at: now,
      updated_at: now,
      ...fields,
    })
    .execute();
  return id;
}

/**
 * What intake does while the queue has a free slot (JobQueue.reserveSlot): inserts the delivery already claimed
 * and hands it over to run where it came in. Waits for a slot (BullMQ's worker offers one once its first fetch
 * found the queue empty).
 */
export async function storeReserved(instance: QueueInstance, behaviour?: Behaviour, beforeHandover?: () => void): Promise<string> {
  const slot = await waitFor('a free slot', () => instance.queue.reserveSlot?.(Date.now()));
  const mark = instance.moduleRef.get<WriteBarrier>(WRITE_BARRIER).mark();
  const id = await storeDelivery(instance.db, slot.claim);
  if (behaviour) instance.handler.scripts.set(id, behaviour);
  const row = await instance.db.selectFrom('webhook_deliveries').select(CLAIMED_COLUMNS).where('id', '=', id).executeTakeFirstOrThrow();
  beforeHandover?.();
  slot.run(row, {}, mark);
  return id;
}

export const rowOf = (db: Db, id: string) =>
  db.selectFrom('webhook_deliveries').select(['status', 'attempts', 'last_error']).where('id', '=', id).executeTakeFirstOrThrow();

export interface ContractDriver {
  /** Environment selecting the driver (and its fresh backing stores) for one test. */
  env: () => Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>;
  /** Makes the instance's worker die as a crashed process would: no release, no further lease renewal, no more writes. */
  crash: (instance: QueueInstance) => Promise<void>;
  /** Long enough for the driver's recovery (a sweeper, a lease sweep) to have revived a job if it were going to. */
  quietMs: number;
}

/** One contract for every JobQueue driver: each learns a behaviour here, and both must show it. */
export function describeJobQueueContract(name: string, driver: ContractDriver): void {
  describe(`JobQueue contract: ${name}`, () => {
    const instances: QueueInstance[] = [];
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ env, cleanup } = await driver.env());
    });
    afterEach(async () => {
      for (const instance of instances.splice(0)) await instance.moduleRef.close().catch(() => undefined);
      await cleanup();
    });
    const start = async () => {
      const instance = await startQueue(env);
      instances.push(instance);
      return instance;
    };
    const settled = (instance: QueueInstance, id: string, timeoutMs?: number) =>
      waitFor(
        `delivery ${id} to settle`,
        async () => {
          const row = await rowOf(instance.db, id);
          return row.status === 'completed' || row.status === 'dead' ? row : undefined;
        },
        timeoutMs,
      );

    it('runs an enqueued delivery once and marks it completed', async () => {
      const instance = await start();
      const id = await storeDelivery(instance.db);
      await instance.queue.enqueue({ deliveryId: id });
      expect(await settled(instance, id)).toMatchObject({ status: 'completed' });
      expect(instance.handler.runs(id)).toHaveLength(1);
    });

    it('dedupes: the same delivery enqueued three times runs once', async () => {
      const instance = await start();
      const id = await storeDelivery(instance.db);
      await Promise.all([1, 2, 3].map(() => instance.queue.enqueue({ deliveryId: id })));
      await settled(instance, id);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(instance.handler.runs(id)).toHaveLength(1);
    });

    it('retries transient failures with backoff, then completes', async () => {
      const instance = await start();
      const id = await storeDelivery(instance.db);
      instance.handler.scripts.set(id, (attempt) => (attempt < 3 ? 'retry' : 'ok'));
      await instance.queue.enqueue({ deliveryId: id });
      expect(await settled(instance, id)).toMatchObject({ status: 'completed' });
      const runs = instance.handler.runs(id);
      expect(runs.map((run) => run.attempt)).toEqual([1, 2, 3]);
      // Every run starts from the row as its claim left it (the handler need not read it again).
      expect(runs.map((run) => run.claimed)).toEqual([1, 2, 3].map((attempts) => ({ id, status: 'processing', attempts })));
      // Backoff: base 100 ms, at least half of each exponential step (jitter).
      expect(runs[1].at - runs[0].at).toBeGreaterThanOrEqual(45);
      expect(runs[2].at - runs[1].at).toBeGreaterThanOrEqual(95);
      expect(instance.handler.dead).toHaveLength(0);
    });

    it('ends dead after QUEUE_MAX_ATTEMPTS, with onDead called once', async () => {
      const instance = await start();
      const id = await storeDelivery(instance.db);
      instance.handler.scripts.set(id, () => 'retry');
      await instance.queue.enqueue({ deliveryId: id });
      expect(await settled(instance, id)).toMatchObject({ status: 'dead', last_error: expect.stringContaining('transient failure 3') });
      expect(instance.handler.runs(id)).toHaveLength(3);
      expect(instance.handler.dead).toEqual([{ deliveryId: id, error: 'transient failure 3' }]);
    });

    it('a permanent failure goes dead at once', async () => {
      const instance = await start();
      const id = await storeDelivery(instance.db);
      instance.handler.scripts.set(id, () => 'permanent');
      await instance.queue.enqueue({ deliveryId: id });
      expect(await settled(instance, id)).toMatchObject({ status: 'dead' });
      expect(instance.handler.runs(id)).toHaveLength(1);
      expect(instance.handler.dead).toHaveLength(1);
    });

    it('requeue runs a finished delivery again once its row is reset (an operator replay)', async () => {
      const instance = await start();
      const id = await storeDelivery(instance.db);
      let runs = 0;
      instance.handler.scripts.set(id, () => (++runs === 1 ? 'permanent' : 'ok'));
      await instance.queue.enqueue({ deliveryId: id });
      expect(await settled(instance, id)).toMatchObject({ status: 'dead' });
      await instance.db
        .updateTable('webhook_deliveries')
        .set({ status: 'queued', attempts: 0, next_run_at: Date.now(), last_error: null })
        .where('id', '=', id)
        .execute();
      await instance.queue.requeue({ deliveryId: id });
      expect(await settled(instance, id)).toMatchObject({ status: 'completed', attempts: 1 });
      expect(instance.handler.runs(id)).toHaveLength(2);
    });

    it('recovers a delivery whose worker crashed mid-run: another worker completes it', async () => {
      const first = await start();
      const id = await storeDelivery(first.db);
      first.handler.scripts.set(id, () => 'hang');
      await first.queue.enqueue({ deliveryId: id });
      await waitFor('the first worker to take the job', () => first.handler.runs(id).length > 0 || undefined);
      await driver.crash(first);
      const second = await start();
      expect(await settled(second, id)).toMatchObject({ status: 'completed' });
      expect(second.handler.runs(id)).toHaveLength(1);
    });

    it('stop() releases an unfinished job: not failed, not dead, and the next instance runs it', async () => {
      const first = await start();
      const id = await storeDelivery(first.db);
      first.handler.scripts.set(id, () => 'hang');
      await first.queue.enqueue({ deliveryId: id });
      await waitFor('the first worker to take the job', () => first.handler.runs(id).length > 0 || undefined);
      // QUEUE_SHUTDOWN_GRACE_MS is 0: the hanging job is interrupted at once.
      await first.queue.stop();
      expect(await rowOf(first.db, id)).toEqual({ status: 'retrying', attempts: 1, last_error: null });
      expect(first.handler.dead).toEqual([]);
      await first.moduleRef.close();
      const second = await start();
      expect(await settled(second, id)).toMatchObject({ status: 'completed', attempts: 2 });
      expect(second.handler.runs(id).map((run) => run.attempt)).toEqual([2]);
      expect(second.handler.dead).toEqual([]);
    });

    describe('a delivery intake hands straight to a free slot (reserveSlot)', () => {
      it('runs once, where it came in, as attempt 1', async () => {
        const instance = await start();
        const id = await storeReserved(instance);
        expect(await settled(instance, id)).toMatchObject({ status: 'completed', attempts: 1 });
        expect(instance.handler.runs(id).map((run) => run.claimed)).toEqual([{ id, status: 'processing', attempts: 1 }]);
      });

      it('retries transient failures through the queue, then completes', async () => {
        const instance = await start();
        const id = await storeReserved(instance, (attempt) => (attempt < 3 ? 'retry' : 'ok'));
        expect(await settled(instance, id)).toMatchObject({ status: 'completed', attempts: 3 });
        expect(instance.handler.runs(id).map((run) => run.attempt)).toEqual([1, 2, 3]);
        expect(instance.handler.dead).toHaveLength(0);
      });

      it('recovers it when its instance crashed mid-run: another instance completes it', async () => {
        const first = await start();
        const id = await storeReserved(first, () => 'hang');
        await waitFor('the run to start', () => first.handler.runs(id).length > 0 || undefined);
        await driver.crash(first);
        const second = await start();
        expect(await settled(second, id, 20_000)).toMatchObject({ status: 'completed', attempts: 2 });
        expect(second.handler.runs(id).map((run) => run.attempt)).toEqual([2]);
      });

      it('stop() releases it unfinished, and the next instance runs it', async () => {
        const first = await start();
        const id = await storeReserved(first, () => 'hang');
        await waitFor('the run to start', () => first.handler.runs(id).length > 0 || undefined);
        await first.queue.stop();
        expect(await rowOf(first.db, id)).toEqual({ status: 'retrying', attempts: 1, last_error: null });
        await first.moduleRef.close();
        const second = await start();
        expect(await settled(second, id)).toMatchObject({ status: 'completed', attempts: 2 });
        expect([...first.handler.dead, ...second.handler.dead]).toEqual([]);
      });

      it('handed over once stop() has begun: not run there, and the next instance runs it', async () => {
        const first = await start();
        let stopping: Promise<void> = Promise.resolve();
        const id = await storeReserved(first, undefined, () => {
          stopping = first.queue.stop();
        });
        await stopping;
        await first.moduleRef.close();
        expect(first.handler.runs(id)).toEqual([]);
        const second = await start();
        expect(await settled(second, id, 20_000)).toMatchObject({ status: 'completed', attempts: 2 });
        expect([...first.handler.dead, ...second.handler.dead]).toEqual([]);
      });
    });

    it('a job whose worker dies on every attempt ends dead after QUEUE_MAX_ATTEMPTS claims, onDead once, never revived', async () => {
      const maxAttempts = Number(CONTRACT_ENV.QUEUE_MAX_ATTEMPTS);
      const crashed: QueueInstance[] = [];
      let id = '';
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        const instance = await start();
        if (attempt === 1) {
          id = await storeDelivery(instance.db);
          await instance.queue.enqueue({ deliveryId: id });
        }
        instance.handler.scripts.set(id, () => 'hang');
        await waitFor(`attempt ${attempt} to start`, () => instance.handler.runs(id).length > 0 || undefined, 20_000);
        expect(instance.handler.runs(id).map((run) => run.attempt)).toEqual([attempt]);
        await driver.crash(instance);
        crashed.push(instance);
      }
      const last = await start();
      expect(await settled(last, id, 20_000)).toMatchObject({ status: 'dead', attempts: maxAttempts + 1 });
      // The last claim takes the error path without running the job again: onDead (the error callback) once.
      expect(last.handler.runs(id)).toEqual([]);
      expect(last.handler.dead).toEqual([{ deliveryId: id, error: expect.stringContaining(`${maxAttempts} interrupted attempts`) }]);
      await new Promise((resolve) => setTimeout(resolve, driver.quietMs));
      expect(await rowOf(last.db, id)).toMatchObject({ status: 'dead', attempts: maxAttempts + 1 });
      expect(last.handler.runs(id)).toEqual([]);
      expect([...crashed, last].flatMap((instance) => instance.handler.dead)).toHaveLength(1);
    });
  });
}
