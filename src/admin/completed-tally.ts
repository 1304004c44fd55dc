/** How old the count of a large table's completed deliveries may get before a read starts counting again. */
export const COMPLETED_COUNT_MAX_AGE_MS = 60_000;

export interface CompletedCount {
  count: number;
  /** When the count that gave it started (ms since the epoch). */
  countedAt: number;
}

type Counter = () => Promise<{ count: number; slices: number }>;

/**
 * The count of completed deliveries that the admin stats report. Counting them reads one index entry per delivery
 * kept: a few ms for a small table, seconds of database work for tens of millions. The dashboard asks every 5 s,
 * once per open tab. So a count that fitted in one slice (see DeliveriesRepository.countCompleted) is taken again
 * on every read, exact as a small deployment expects; a larger one at most once per `maxAgeMs`, in the background,
 * while reads answer at once with the last count and when it was taken. One count runs at a time.
 */
export class CompletedTally {
  private last?: CompletedCount & { slices: number };
  private counting?: Promise<CompletedCount>;

  constructor(
    private readonly countNow: Counter,
    private readonly onBackgroundError: (error: unknown) => void,
    private readonly maxAgeMs = COMPLETED_COUNT_MAX_AGE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  read(): Promise<CompletedCount> {
    const last = this.last;
    if (last === undefined || last.slices === 1) return this.recount();
    if (this.now() - last.countedAt >= this.maxAgeMs) this.recount().catch(this.onBackgroundError);
    return Promise.resolve({ count: last.count, countedAt: last.countedAt });
  }

  private recount(): Promise<CompletedCount> {
    this.counting ??= this.count().finally(() => (this.counting = undefined));
    return this.counting;
  }

  private async count(): Promise<CompletedCount> {
    const countedAt = this.now();
    const { count, slices } = await this.countNow();
    this.last = { count, slices, countedAt };
    return { count, countedAt };
  }
}
