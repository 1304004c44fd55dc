import { Job, JobJsonRaw, Processor, RawCommand, RedisClient, RedisConnection, Worker, WorkerOptions } from 'bullmq';
import * as bullmqScripts from 'bullmq/dist/cjs/scripts';

/** The line of BullMQ's `moveToActive` (in `prepareJobForProcessing`) that re-sets the wake-up marker. */
const MARKER_AFTER_HANDOUT = '  addBaseMarkerIfNeeded(markerKey, false)\n';
/** What the patch relies on: the script's keys 1 and 3 are the wait list and the prioritized set. */
const KEY_LAYOUT = ['KEYS[1] wait key', 'KEYS[3] prioritized key'];

/**
 * BullMQ's `moveToActive` script with one change: after handing out a job it re-sets the queue's wake-up marker
 * only while jobs are still waiting (in the wait list or the prioritized set), instead of always. The marker tells
 * blocked workers "there is something to fetch"; re-set when nothing is left, it wakes one worker for a fetch that
 * finds nothing. Markers the other scripts set (adds, delayed jobs, stalled jobs, retries, releases) are untouched.
 *
 * Returns undefined (run BullMQ's script as it is) unless the script still has exactly that line and that key
 * layout: a BullMQ release that changed them costs the wasted calls again, never a job.
 */
export function markerOnlyWhileJobsWait(command: RawCommand): RawCommand | undefined {
  const { content } = command;
  const at = content.indexOf(MARKER_AFTER_HANDOUT);
  if (at < 0 || content.includes(MARKER_AFTER_HANDOUT, at + 1) || command.keys !== 11) return undefined;
  if (!KEY_LAYOUT.every((line) => content.includes(line))) return undefined;
  const conditional = [
    '  if rcall("LLEN", KEYS[1]) > 0 or rcall("ZCARD", KEYS[3]) > 0 then',
    '    addBaseMarkerIfNeeded(markerKey, false)',
    '  end',
    '',
  ].join('\n');
  return { ...command, content: content.replace(MARKER_AFTER_HANDOUT, conditional) };
}

const leanMoveToActive = markerOnlyWhileJobsWait(bullmqScripts.moveToActive);
/** Whether this BullMQ's `moveToActive` could be patched (the driver warns at start when not). */
export const MARKER_PATCHED = leanMoveToActive !== undefined;
/** BullMQ's scripts (the module exports one per script), with the patched `moveToActive` when there is one. */
const LEAN_SCRIPTS: Record<string, RawCommand> = {
  ...(bullmqScripts as unknown as Record<string, RawCommand>),
  ...(leanMoveToActive && { moveToActive: leanMoveToActive }),
};

/**
 * BullMQ's connection, loading `markerOnlyWhileJobsWait`'s `moveToActive` instead of BullMQ's own. Passing an
 * alternative `RedisConnection` class to a Worker, and scripts to `loadCommands`, are BullMQ's own extension points.
 * (BullMQ defines a script on a Redis client only if it is not defined there yet: give the worker a client of its
 * own, as the BullMQ driver does, not one a Queue has loaded first.) The built scripts are imported from BullMQ's
 * dist/cjs/scripts, where its own RedisConnection loads them from; a BullMQ that moved them fails the unit tests.
 */
export class LeanConnection extends RedisConnection {
  protected override loadCommands(packageVersion: string, providedScripts?: Record<string, RawCommand>): void {
    super.loadCommands(packageVersion, providedScripts ?? LEAN_SCRIPTS);
  }
}

/**
 * BullMQ's Worker without the Redis calls that find nothing when the queue is mostly idle. Two of them per job:
 *
 * 1. After `moveToActive` hands out a job, `Worker.mainLoop` asks for the next one at once while it has free slots;
 *    under a light load that call (one Lua script, one round trip) finds the queue empty. This worker instead
 *    declares the queue drained and waits on the wake-up marker. The fetch's script re-sets the marker if jobs are
 *    still waiting, and every script that adds a job to the wait list (an add, a retry, a promoted delayed job, a
 *    stalled job returned) sets it too, so the pop returns at once whenever there is something to fetch: a job is
 *    never left for the pop's timeout. Under a heavy load the pop replaces nothing, and costs one call for each slot
 *    the main loop fills (a finishing job fetches the next in its own script, so that is rare).
 * 2. BullMQ's `moveToActive` re-sets the marker after every job it hands out, which wakes a blocked worker (this
 *    one, or another instance's) for a pop and a fetch that find nothing. `LeanConnection` loads a `moveToActive`
 *    that re-sets it only while jobs are waiting.
 *
 * In the scale bench (two instances, 150 deliveries/s) Redis calls per delivery went from 6.4 to 4.1
 * (bench/HISTORY.md); test/scale/lean-worker.scale-spec.ts counts the calls per job.
 */
export class LeanWorker<DataType = unknown> extends Worker<DataType> {
  private handedOut = false;
  /** Fetches skipped so far (for tests and the curious). */
  skippedFetches = 0;
  /**
   * As far as this worker knows, no job waits: its last fetch found none, or it skipped the fetch and waits on the
   * marker (which a waiting job sets, so the fetch that follows clears this). False until the first fetch.
   */
  queueSeemsEmpty = false;

  constructor(name: string, processor: Processor<DataType>, options: WorkerOptions) {
    super(name, processor, options, LeanConnection);
  }

  protected override async moveToActive(client: RedisClient, token: string, name?: string): Promise<Job<DataType>> {
    if (this.handedOut) {
      this.handedOut = false;
      this.skippedFetches++;
      this.queueSeemsEmpty = true;
      // Marks the worker drained (so it waits on the marker next) and hands out nothing.
      return this.nextJobFromJobData(undefined, undefined, token);
    }
    const job = await super.moveToActive(client, token, name);
    this.handedOut = Boolean(job);
    this.queueSeemsEmpty = !job;
    return job;
  }

  /**
   * Every fetch's outcome passes here, a finishing job's own fetch of the next one included. Nothing handed out means
   * the worker waits on the marker next, and the fetch after that wake-up must run: the wake-up consumed the marker a
   * new job set. (A handout that filled the last free slot is followed by no fetch to skip; without this, its flag
   * outlived the slot's job and the next wake-up's fetch was skipped, leaving the job that woke it waiting.)
   */
  protected override nextJobFromJobData(jobData?: JobJsonRaw, jobId?: string, token?: string): Promise<Job<DataType>> {
    if (!jobData) this.handedOut = false;
    return super.nextJobFromJobData(jobData, jobId, token);
  }
}
