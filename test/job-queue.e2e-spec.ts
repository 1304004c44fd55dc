import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describeJobQueueContract } from './contracts/job-queue.contract';
import { tempDir } from './helpers/create-test-app';

describeJobQueueContract('embedded (SQLite)', {
  env() {
    const dir = tempDir('mr-queue-');
    return Promise.resolve({
      env: { DATABASE_URL: `sqlite:${join(dir, 'queue.db')}` },
      cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    });
  },
  // One process per database file: the next instance takes over interrupted rows when it starts.
  crash: () => Promise.resolve(),
});
