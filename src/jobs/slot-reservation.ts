import { randomUUID } from 'node:crypto';
import { ClaimedDelivery } from '../deliveries/delivery-state.repository';
import { SlotReservation } from './job-queue.port';

/** What a driver does when a reservation settles. */
export interface ReservationHooks {
  /** The slot is no longer reserved (exactly once: the run started, or intake released it). */
  free(): void;
  /** The row went in: run the claim (on the next check phase), unless the driver is stopping by then. */
  run(claim: ClaimedDelivery, mark: number): void;
  /** Intake released the slot without a row (a duplicate, a failed insert), after `free`. */
  released?(): void;
}

/**
 * A worker slot held for a delivery intake is about to insert (JobQueue.reserveSlot), the same for both drivers:
 * the claim the row goes in with (attempt 1, a token and lease of its own), and exactly one of run and release.
 * The run starts on the next check phase, as a claim's runs do: what this turn's writes opened (SQLite's group
 * commit) and intake's answers go first, so they do not wait for the run to take its first steps.
 */
export function slotReservation(now: number, leaseMs: number, hooks: ReservationHooks): SlotReservation {
  let open = true;
  const settle = () => {
    const first = open;
    open = false;
    if (first) hooks.free();
    return first;
  };
  const leaseToken = randomUUID();
  return {
    claim: { status: 'processing', attempts: 1, lease_token: leaseToken, lease_until: now + leaseMs },
    run: (row, payload, mark) => {
      setImmediate(() => {
        if (settle()) hooks.run({ deliveryId: row.id, attempt: 1, leaseToken, row, payload }, mark);
      });
    },
    release: () => {
      if (settle()) hooks.released?.();
    },
  };
}
