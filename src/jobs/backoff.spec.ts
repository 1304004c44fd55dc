import { backoffDelay } from './backoff';

describe('backoffDelay', () => {
  const options = { baseMs: 1000, maxMs: 60_000 };

  it.each([
    [1, 0, 500],
    [1, 1, 1000],
    [2, 0, 1000],
    [3, 0.5, 3000],
    [6, 1, 32_000],
    [7, 0, 30_000],
    [7, 1, 60_000],
    [50, 1, 60_000],
  ])('attempt %i with random %p waits %i ms', (attempt, random, expected) => {
    expect(backoffDelay(attempt, options, () => random)).toBe(expected);
  });

  it('never exceeds the cap and never goes below half the step', () => {
    for (let attempt = 1; attempt < 40; attempt++) {
      const delay = backoffDelay(attempt, options);
      const step = Math.min(60_000, 1000 * 2 ** (attempt - 1));
      expect(delay).toBeGreaterThanOrEqual(step / 2);
      expect(delay).toBeLessThanOrEqual(60_000);
    }
  });
});
