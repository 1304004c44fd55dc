import { decideOutcome } from './job-outcome.policy';
import { PermanentJobError } from './job-queue.port';

describe('decideOutcome', () => {
  const policy = { maxAttempts: 3, baseMs: 1000, maxMs: 60_000 };
  const transient = new Error('flaky');
  const permanent = new PermanentJobError('unusable');

  it.each<[string, Error, number, boolean, string]>([
    ['a transient failure before the last attempt retries', transient, 1, false, 'retry'],
    ['a transient failure at the last attempt is final', transient, 3, false, 'dead'],
    ['a claim past the last attempt is final', transient, 4, false, 'dead'],
    ['a permanent failure is final at once', permanent, 1, false, 'dead'],
    ['a permanent failure stays final during shutdown', permanent, 1, true, 'dead'],
    ['shutdown releases a transient failure', transient, 1, true, 'release'],
    ['shutdown releases even at the last attempt: it ran out of time, it did not fail', transient, 3, true, 'release'],
  ])('%s', (_name, error, attempt, stopping, kind) => {
    expect(decideOutcome(error, attempt, stopping, policy).kind).toBe(kind);
  });

  it('schedules a retry with the backoff of the attempt that failed', () => {
    expect(decideOutcome(transient, 2, false, policy, 10_000, () => 0)).toEqual({ kind: 'retry', runAt: 11_000, error: 'Error: flaky' });
    expect(decideOutcome(transient, 2, false, policy, 10_000, () => 1)).toEqual({ kind: 'retry', runAt: 12_000, error: 'Error: flaky' });
  });
});
