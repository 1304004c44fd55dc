/**
 * What background work needs to make its writes durable before it tells the outside world anything:
 * read `mark()` before the work's first write, then `synced(mark)` resolves once everything written since
 * is committed (and on disk in durable mode), or rejects if a commit or fsync failed in between.
 *
 * SQLite's group-commit driver implements it; on PostgreSQL every statement answers once it is committed,
 * so there is never anything to wait for (NO_BARRIER).
 */
export interface WriteBarrier {
  mark(): number;
  synced(since: number): Promise<void>;
}

export const NO_BARRIER: WriteBarrier = { mark: () => 0, synced: () => Promise.resolve() };
