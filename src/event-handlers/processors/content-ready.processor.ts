import { Injectable } from '@nestjs/common';
import { InjectBackgroundDatabase } from '../../database/database.module';
import { ContentsTable, Db } from '../../database/database.types';
import { PreparedQuery, slotsFor } from '../../database/prepared-query';
import { newRowId } from '../../database/row-id';
import { JsonObject, merged } from '../../common/json';
import { MODELRIVER_EVENTS, ModelRiverEvent } from '../events/modelriver-event';
import { PermanentProcessingError } from '../processing.errors';
import { EventProcessor, ProcessesEvent } from './event-processor';
import { slugCandidates } from './slug';

type Content = Pick<ContentsTable, keyof ContentsTable>;
const CONTENT_COLUMNS = ['id', 'channel_id', 'title', 'body', 'slug', 'created_at'] as const satisfies readonly (keyof Content)[];

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim().length > 0 ? value.trim() : undefined;

/** Stores generated content under a unique slug; one row per channel, so retries create nothing new. */
@Injectable()
@ProcessesEvent(MODELRIVER_EVENTS.contentReady)
export class ContentReadyProcessor implements EventProcessor {
  /** The insert every content delivery runs, compiled once (see PreparedQuery). */
  private readonly insertContent: PreparedQuery<Content>;

  constructor(@InjectBackgroundDatabase() private readonly db: Db) {
    this.insertContent = new PreparedQuery(db, CONTENT_COLUMNS, (slot) =>
      db
        .insertInto('contents')
        .values(slotsFor(slot, CONTENT_COLUMNS))
        // The count of inserted rows tells whether this row went in (no RETURNING: see DeliveriesRepository.insertIfAbsent).
        .onConflict((oc) => oc.doNothing()),
    );
  }

  async process(event: ModelRiverEvent): Promise<JsonObject> {
    const { aiData, channelId } = event;
    const body = text(aiData.body) ?? text(aiData.content) ?? text(aiData.text);
    const title = text(aiData.title) ?? body?.split('\n')[0].slice(0, 120);
    if (!title || !body) {
      throw new PermanentProcessingError('content_ready needs ai_response.data.title and a body (body, content or text)');
    }
    const row = await this.insert(channelId, title, body);
    return merged(aiData, {
      processed: true,
      saved_at: new Date(Number(row.created_at)).toISOString(),
      content_id: row.id,
      slug: row.slug,
    });
  }

  /**
   * At most three inserts: the plain slug, then two channel-derived suffixes (see slugCandidates). The first
   * insert usually wins (one statement); otherwise the channel's row exists already (a retry, or a concurrent
   * run for the same channel: both leave that row) or the slug is taken and the next candidate is tried.
   */
  private async insert(channelId: string, title: string, body: string) {
    for (const slug of slugCandidates(title, channelId)) {
      const row = { id: newRowId(), channel_id: channelId, title, body, slug, created_at: Date.now() };
      const { numAffectedRows } = await this.insertContent.execute(row);
      if ((numAffectedRows ?? 0n) > 0n) return row;
      const existing = await this.findByChannel(channelId);
      if (existing) return existing;
    }
    throw new Error(`no free slug for channel ${channelId}`);
  }

  private findByChannel(channelId: string) {
    return this.db
      .selectFrom('contents')
      .select(['id', 'slug', 'created_at'])
      .where('channel_id', '=', channelId)
      .executeTakeFirst();
  }
}
