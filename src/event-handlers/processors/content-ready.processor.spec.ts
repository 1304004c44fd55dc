import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, DatabaseHandles } from '../../database/database.factory';
import { ModelRiverEvent } from '../events/modelriver-event';
import { ContentReadyProcessor } from './content-ready.processor';

const event = (channelId: string, title: string, body = 'Body.'): ModelRiverEvent => ({
  deliveryId: `delivery-${channelId}`,
  name: 'modelriver.task.ai_generated.content_ready',
  type: 'task.ai_generated',
  event: 'content_ready',
  channelId,
  aiData: { title, body },
  aiMeta: {},
  customerData: {},
  meta: {},
  callbackUrl: null,
  status: null,
  workflow: null,
});

describe('ContentReadyProcessor (SQLite)', () => {
  let dir: string;
  let handles: DatabaseHandles;
  let processor: ContentReadyProcessor;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mr-content-'));
    handles = await createDatabase({ url: `sqlite:${join(dir, 'test.db')}`, busyTimeoutMs: 5000, sqliteSynchronous: 'NORMAL', poolSize: 1, preparedStatements: false });
    processor = new ContentReadyProcessor(handles.background);
  });

  afterEach(async () => {
    await handles.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const rows = () => handles.db.selectFrom('contents').select(['id', 'channel_id', 'title', 'slug', 'created_at']).orderBy('channel_id').execute();

  it('answers with the row it inserted', async () => {
    const result = await processor.process(event('ch-1', 'Launch Notes'));
    const [row] = await rows();
    expect(result).toMatchObject({ processed: true, content_id: row.id, slug: 'launch-notes', saved_at: new Date(Number(row.created_at)).toISOString() });
  });

  it('a second run for the same channel answers with the row the first one stored, and stores nothing', async () => {
    const first = await processor.process(event('ch-1', 'Launch Notes'));
    const again = await processor.process(event('ch-1', 'Another Title'));
    expect(again).toMatchObject({ content_id: first.content_id, slug: 'launch-notes', saved_at: first.saved_at });
    expect(await rows()).toHaveLength(1);
  });

  it('a taken slug moves to the next candidate, and the answer names the slug stored', async () => {
    await processor.process(event('ch-1', 'Same Title'));
    const second = await processor.process(event('ch-2', 'Same Title'));
    const stored = await rows();
    expect(stored.map((row) => row.slug)).toEqual(['same-title', second.slug]);
    expect(second.slug).toMatch(/^same-title-[0-9a-f]{8}$/);
    expect(second.content_id).toBe(stored[1].id);
  });
});
