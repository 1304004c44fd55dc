import { DeliveryRow } from '../database/database.types';
import { NO_BARRIER } from '../database/write-barrier';
import { insertedRow } from '../deliveries/deliveries.repository';
import { ClaimedDelivery, DeliveryStateRepository } from '../deliveries/delivery-state.repository';
import { QueueConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { EmbeddedJobQueue } from './embedded-job-queue.driver';
import { DeliveryJobHandler, JobContext } from './job-queue.port';

/** The one counter the queue moves (runs by how they started), counted here. */
const started: string[] = [];
const METRICS = { runs: { inc: ({ start }: { start: string }) => started.push(start) } } as unknown as MetricsService;

const CONFIG: QueueConfig = {
  concurrency: 2,
  maxAttempts: 3,
  backoffBaseMs: 10,
  backoffMaxMs: 100,
  leaseMs: 30_000,
  pollIntervalMs: 60_000,
  shutdownGraceMs: 1000,
};

/** The state the driver needs, in memory: nothing is ever waiting to be claimed. */
function fakeStore() {
  return {
    recoverInterrupted: jest.fn(() => Promise.resolve(0)),
    claimDue: jest.fn((): Promise<ClaimedDelivery[]> => Promise.resolve([])),
    nextDueAt: jest.fn(() => Promise.resolve(undefined)),
    extendLease: jest.fn(() => Promise.resolve(true)),
    complete: jest.fn(() => Promise.resolve()),
    release: jest.fn(() => Promise.resolve()),
    retryAt: jest.fn(() => Promise.resolve()),
    markDead: jest.fn(() => Promise.resolve()),
  };
}

const row = (id: string, claim: { lease_token: string; lease_until: number }): DeliveryRow =>
  insertedRow({
    id,
    dedupe_key: `key-${id}`,
    channel_id: `channel-${id}`,
    type: 'task.ai_generated',
    event: 'content_ready',
    status: 'processing',
    attempts: 1,
    next_run_at: 0,
    payload: '{}',
    signature_scheme: 'raw',
    signature_secret_index: 0,
    created_at: 0,
    updated_at: 0,
    ...claim,
  });

/** A handler whose runs end when the test says so. */
function heldHandler() {
  const contexts: JobContext[] = [];
  const finish: (() => void)[] = [];
  const handler: DeliveryJobHandler = {
    handle: (_job, context) => {
      contexts.push(context);
      return new Promise((resolve) => finish.push(() => resolve()));
    },
    onDead: () => Promise.resolve(),
  };
  return { handler, contexts, finishAll: () => finish.splice(0).forEach((done) => done()) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('EmbeddedJobQueue.reserveSlot (intake hands a delivery straight to the worker)', () => {
  let store: ReturnType<typeof fakeStore>;
  let queue: EmbeddedJobQueue;
  let held: ReturnType<typeof heldHandler>;

  beforeEach(async () => {
    started.length = 0;
    store = fakeStore();
    queue = new EmbeddedJobQueue(store as unknown as DeliveryStateRepository, CONFIG, NO_BARRIER, METRICS);
    held = heldHandler();
    queue.setHandler(held.handler);
    await queue.start();
    await settle(); // the start's own sweep
  });
  afterEach(async () => {
    held.finishAll();
    await queue.stop();
  });

  it('holds a slot with a claim of its own, and runs the row from the payload it is given', async () => {
    const slot = queue.reserveSlot(1000)!;
    expect(slot.claim).toEqual({ status: 'processing', attempts: 1, lease_token: expect.any(String), lease_until: 1000 + CONFIG.leaseMs });
    const payload = { type: 'task.ai_generated' };
    slot.run(row('a', slot.claim), payload, 0);
    await settle();
    expect(held.contexts).toHaveLength(1);
    expect(held.contexts[0]).toMatchObject({ attempt: 1, claimedPayload: payload, claimed: { id: 'a', lease_token: slot.claim.lease_token } });
    expect(store.claimDue).toHaveBeenCalledTimes(1); // the start's sweep only: the run needed no claim
    expect(started).toEqual(['intake']); // modelriver_job_runs_total{start="intake"}
    held.finishAll();
    await settle();
    expect(store.complete).toHaveBeenCalledWith(expect.objectContaining({ deliveryId: 'a', leaseToken: slot.claim.lease_token, attempt: 1 }), expect.any(Number), {});
  });

  it('counts reserved and running slots against QUEUE_CONCURRENCY, and a released slot is free again', async () => {
    const first = queue.reserveSlot(0)!;
    const second = queue.reserveSlot(0)!;
    expect(queue.reserveSlot(0)).toBeUndefined();
    first.run(row('a', first.claim), {}, 0);
    expect(queue.reserveSlot(0)).toBeUndefined();
    second.release();
    second.release(); // settling twice frees one slot, not two
    const third = queue.reserveSlot(0);
    expect(third).toBeDefined();
    expect(queue.reserveSlot(0)).toBeUndefined();
  });

  it('gives no slot while stored deliveries may wait to be claimed: they go first', async () => {
    await queue.enqueue({ deliveryId: 'waiting' });
    expect(queue.reserveSlot(0)).toBeUndefined();
    await settle(); // the claim found nothing
    await settle();
    expect(queue.reserveSlot(0)).toBeDefined();
  });

  it('gives no slot before start or once stopping; a row handed over during shutdown is released, not run', async () => {
    const idle = new EmbeddedJobQueue(store as unknown as DeliveryStateRepository, CONFIG, NO_BARRIER, METRICS);
    idle.setHandler(held.handler);
    expect(idle.reserveSlot(0)).toBeUndefined();

    const slot = queue.reserveSlot(0)!;
    await queue.stop();
    expect(queue.reserveSlot(0)).toBeUndefined();
    slot.run(row('late', slot.claim), {}, 0);
    await settle();
    expect(held.contexts).toHaveLength(0);
    expect(store.release).toHaveBeenCalledWith(expect.objectContaining({ deliveryId: 'late', leaseToken: slot.claim.lease_token }), expect.any(Number));
  });
});
