import { CompletedTally } from './completed-tally';

/** A counter whose counts the test finishes by hand, with the slices each one reports. */
function manualCounter() {
  const pending: { resolve: (value: { count: number; slices: number }) => void; reject: (error: Error) => void }[] = [];
  const counter = jest.fn(() => new Promise<{ count: number; slices: number }>((resolve, reject) => pending.push({ resolve, reject })));
  const finish = async (count: number, slices: number) => {
    pending.shift()!.resolve({ count, slices });
    await new Promise((resolve) => setImmediate(resolve));
  };
  const fail = async (error: Error) => {
    pending.shift()!.reject(error);
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { counter, finish, fail };
}

describe('CompletedTally', () => {
  let clock: number;
  const now = () => clock;
  beforeEach(() => (clock = 1_000_000));

  it('counts a table that fits in one slice again on every read', async () => {
    const { counter, finish } = manualCounter();
    const tally = new CompletedTally(counter, jest.fn(), 60_000, now);

    const first = tally.read();
    await finish(3, 1);
    await expect(first).resolves.toEqual({ count: 3, countedAt: 1_000_000 });

    clock += 1_000;
    const second = tally.read();
    await finish(4, 1);
    await expect(second).resolves.toEqual({ count: 4, countedAt: 1_001_000 });
    expect(counter).toHaveBeenCalledTimes(2);
  });

  it('answers a large table from its last count, and counts again in the background once that is older than the limit', async () => {
    const { counter, finish } = manualCounter();
    const tally = new CompletedTally(counter, jest.fn(), 60_000, now);
    const first = tally.read();
    await finish(5_000_000, 250);
    await expect(first).resolves.toEqual({ count: 5_000_000, countedAt: 1_000_000 });

    clock += 59_999;
    await expect(tally.read()).resolves.toEqual({ count: 5_000_000, countedAt: 1_000_000 });
    expect(counter).toHaveBeenCalledTimes(1);

    clock += 1;
    // Stale: the read still answers at once with the last count, and one count starts however many reads come.
    await expect(tally.read()).resolves.toEqual({ count: 5_000_000, countedAt: 1_000_000 });
    await expect(tally.read()).resolves.toEqual({ count: 5_000_000, countedAt: 1_000_000 });
    expect(counter).toHaveBeenCalledTimes(2);
    await finish(5_000_100, 250);

    await expect(tally.read()).resolves.toEqual({ count: 5_000_100, countedAt: 1_060_000 });
    expect(counter).toHaveBeenCalledTimes(2);
  });

  it('shares one count between reads that come while it runs', async () => {
    const { counter, finish } = manualCounter();
    const tally = new CompletedTally(counter, jest.fn(), 60_000, now);

    const reads = [tally.read(), tally.read(), tally.read()];
    await finish(7, 1);

    await expect(Promise.all(reads)).resolves.toEqual([{ count: 7, countedAt: 1_000_000 }, { count: 7, countedAt: 1_000_000 }, { count: 7, countedAt: 1_000_000 }]);
    expect(counter).toHaveBeenCalledTimes(1);
  });

  it('reports a failed background count, keeps the last count, and tries again on a later read', async () => {
    const { counter, finish, fail } = manualCounter();
    const onError = jest.fn();
    const tally = new CompletedTally(counter, onError, 60_000, now);
    const first = tally.read();
    await finish(1_000_000, 50);
    await first;

    clock += 60_000;
    await expect(tally.read()).resolves.toEqual({ count: 1_000_000, countedAt: 1_000_000 });
    await fail(new Error('database is locked'));
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'database is locked' }));

    await expect(tally.read()).resolves.toEqual({ count: 1_000_000, countedAt: 1_000_000 });
    expect(counter).toHaveBeenCalledTimes(3);
  });

  it('fails a read that has no count to fall back on', async () => {
    const { counter, fail } = manualCounter();
    const tally = new CompletedTally(counter, jest.fn(), 60_000, now);
    const first = expect(tally.read()).rejects.toThrow('no such table');
    await fail(new Error('no such table'));
    await first;
  });
});
