import { expect } from '@jest/globals';
import BetterSqlite3 from 'better-sqlite3';
import { CallbackSink, SinkRequest } from './callback-sink';
import { waitFor } from './create-test-app';
import { aiGeneratedPayload, AiGeneratedOptions, signedHeaders } from './sign-webhook';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface SignedLoad {
  /** Channel ids answered 200. */
  accepted: Set<string>;
  /** Answers by status code. */
  statuses: Map<number, number>;
  sent(): number;
  stop(): Promise<void>;
}

/** A load nobody stopped (its test failed before `stop()`) ends by itself after this, so Jest can still exit. */
const MAX_LOAD_MS = 180_000;

/**
 * Continuous signed load, as ModelRiver under a burst: each sender posts a fresh delivery, and keeps
 * trying (every 20 ms) while the target is down. `target()` is read per request, so tests can move it.
 */
export function startSignedLoad(options: { target: () => string; senders: number; payload?: (n: number) => AiGeneratedOptions }): SignedLoad {
  const accepted = new Set<string>();
  const statuses = new Map<number, number>();
  const until = Date.now() + MAX_LOAD_MS;
  let sent = 0;
  let running = true;
  const sender = async (n: number) => {
    for (let i = 0; running && Date.now() < until; i++) {
      const payload = aiGeneratedPayload(options.payload?.(n + i));
      const body = JSON.stringify(payload);
      sent++;
      try {
        const response = await fetch(`${options.target()}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body, signal: AbortSignal.timeout(5000) });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status === 200) accepted.add(payload.channel_id as string);
        await response.arrayBuffer();
      } catch {
        await sleep(20); // down: keep trying, as ModelRiver would
      }
    }
  };
  const senders = Array.from({ length: options.senders }, (_, n) => sender(n));
  return {
    accepted,
    statuses,
    sent: () => sent,
    async stop() {
      running = false;
      await Promise.all(senders);
    },
  };
}

/**
 * The only repeats allowed: the documented at-least-once window. Each repeated callback has exactly two
 * identical copies, the first answered less than a second before one of the kills (taken once each exit was
 * seen). Returns how long before its kill each first copy arrived.
 */
export function expectOnlyWindowDoubles(doubles: SinkRequest[][], kills: number[]): number[] {
  return doubles.map((copies) => {
    expect(copies).toHaveLength(2);
    expect(copies[1].body).toEqual(copies[0].body);
    const kill = kills.find((at) => at >= copies[0].receivedAt && at - copies[0].receivedAt < 1000);
    expect(kill).toBeDefined();
    return kill! - copies[0].receivedAt;
  });
}

/**
 * Waits (bounded) until every stored delivery of an embedded-profile database is completed, including rows
 * stored but never answered (killed mid-request), then checks each accepted delivery: one completed row, its
 * callback delivered, at least one callback at the sink. Returns the repeated callbacks, for the caller to judge.
 */
export async function settleAccepted(dbFile: string, accepted: Set<string>, sink: CallbackSink, timeoutMs = 30_000): Promise<SinkRequest[][]> {
  const db = new BetterSqlite3(dbFile, { readonly: true });
  try {
    const unfinished = db.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status <> 'completed'");
    await waitFor('every stored delivery to complete', () => ((unfinished.get() as { n: number }).n === 0 ? true : undefined), timeoutMs);
    const rowsFor = db.prepare('SELECT status, callback_status FROM webhook_deliveries WHERE channel_id = ?');
    const doubles: SinkRequest[][] = [];
    for (const channel of accepted) {
      expect(rowsFor.all(channel)).toEqual([{ status: 'completed', callback_status: 'delivered' }]);
      const callbacks = sink.for(channel);
      expect(callbacks.length).toBeGreaterThanOrEqual(1);
      if (callbacks.length > 1) doubles.push(callbacks);
    }
    return doubles;
  } finally {
    db.close();
  }
}
