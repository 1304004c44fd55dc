import { execFile } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { AppProcess, freePort, REPO_ROOT, startAppProcess } from './helpers/app-process';
import { CallbackSink } from './helpers/callback-sink';
import { tempDir, waitFor } from './helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from './helpers/sign-webhook';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `npm run backup|restore -- …`, as an operator runs it (the built tool, from the repository root). */
async function dataTool(command: 'backup' | 'restore', file: string, databaseFile: string) {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(REPO_ROOT, 'dist', 'data-tool.js'), command, file], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: `sqlite:${databaseFile}` },
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

const readIds = (file: string, where: string): string[] => {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return (db.prepare(`SELECT id FROM webhook_deliveries WHERE ${where}`).all() as { id: string }[]).map((row) => row.id);
  } finally {
    db.close();
  }
};

describe('online backup and restore (embedded profile)', () => {
  let dir: string;
  let sink: CallbackSink;
  const apps: AppProcess[] = [];
  const start = async (dbFile: string) => {
    const app = await startAppProcess({ PORT: String(await freePort()), DATABASE_URL: `sqlite:${dbFile}`, SQLITE_SYNCHRONOUS: 'FULL' });
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    dir = tempDir('mr-backup-');
    sink = await new CallbackSink().start();
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.kill('SIGKILL')));
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('backs up while the service takes webhooks; a fresh process on the restored copy has every delivery completed before the backup began', async () => {
    const live = join(dir, 'live.db');
    const app = await start(live);
    const payloads = new Map<string, Record<string, unknown>>();
    let sending = true;
    let answered = 0;
    const sender = async () => {
      while (sending) {
        const payload = aiGeneratedPayload({ callbackBase: sink.url });
        const body = JSON.stringify(payload);
        const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
        expect(response.status).toBe(200);
        payloads.set(((await response.json()) as { delivery_id: string }).delivery_id, payload);
        answered++;
      }
    };
    const senders = [sender(), sender(), sender(), sender()];
    await waitFor('some completed deliveries', () => (readIds(live, "status = 'completed'").length >= 100 ? true : undefined), 20_000);

    const completedBefore = readIds(live, "status = 'completed'");
    const answeredBefore = answered;
    const backupFile = join(dir, 'backup.db');
    const backup = await dataTool('backup', backupFile, live);
    const answeredDuring = answered - answeredBefore;
    await sleep(200);
    sending = false;
    await Promise.all(senders);
    await app.kill('SIGTERM');

    expect(backup.code).toBe(0);
    expect(backup.output).toMatch(new RegExp(`^backed up ${live} to ${backupFile}: \\d+ deliveries, [\\d.]+ MB, in \\d+ ms \\(as of .+\\)\\n$`));
    expect(answeredDuring).toBeGreaterThan(0); // the service kept answering while the backup ran

    const restored = join(dir, 'restored', 'fresh.db');
    const restore = await dataTool('restore', backupFile, restored);
    expect(restore).toMatchObject({ code: 0, output: expect.stringContaining(`restored ${backupFile} to ${restored}`) });

    const fresh = await start(restored);
    const completedAfter = new Set(readIds(restored, "status = 'completed'"));
    expect(completedBefore.filter((id) => !completedAfter.has(id))).toEqual([]);
    // The restored dedupe record works: ModelRiver redelivering a restored webhook is answered as a duplicate.
    const [someId] = completedBefore;
    const body = JSON.stringify(payloads.get(someId));
    const again = await fetch(`${fresh.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
    expect(await again.json()).toMatchObject({ delivery_id: someId, duplicate: true });
    process.stdout.write(`backup under load: ${completedBefore.length} completed before it, ${answeredDuring} webhooks answered while it ran; ${backup.output}`);
    await fresh.kill('SIGTERM');
  }, 60_000);

  it('refuses: an existing backup file, a restore under a running service, a file that is not a backup; nothing changes', async () => {
    const live = join(dir, 'refusals.db');
    const app = await start(live);
    const existing = join(dir, 'existing.db');
    writeFileSync(existing, 'keep me');
    const overwrite = await dataTool('backup', existing, live);
    expect(overwrite).toEqual({ code: 1, output: `${existing} exists already: choose another name, or delete it first\n` });

    const good = join(dir, 'good.db');
    expect((await dataTool('backup', good, live)).code).toBe(0);
    const underService = await dataTool('restore', good, live);
    expect(underService.code).toBe(1);
    expect(underService.output).toMatch(/^Cannot restore: the database file .* is in use by another process \(pid \d+\): one process per SQLite file; stop the service first\n$/);
    await app.kill('SIGTERM');

    const notABackup = await dataTool('restore', existing, live);
    expect(notABackup.code).toBe(1);
    expect(notABackup.output).toContain(`${existing} is not a backup of this service`);
    expect(readIds(live, '1 = 1')).toEqual([]);
    expect(existsSync(`${live}.restoring`)).toBe(false);
  });
});
