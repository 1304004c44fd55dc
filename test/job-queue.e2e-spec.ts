import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseHandles } from '../src/database/database.factory';
import { DATABASE_HANDLES } from '../src/database/database.module';
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
  // A dead process's connection is gone (its open transaction rolled back) and so is its file lock; the next
  // instance takes over interrupted rows when it starts (one process per database file).
  crash: (instance) => instance.moduleRef.get<DatabaseHandles>(DATABASE_HANDLES).close(),
  // Interrupted rows are taken over at boot or by the lease sweep (a few poll intervals).
  quietMs: 500,
});
