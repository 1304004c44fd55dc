import { Injectable } from '@nestjs/common';
import { Insertable, Selectable } from 'kysely';
import { InjectDatabase } from '../database/database.module';
import { AiRequestsTable, Db } from '../database/database.types';

export type AiRequest = Selectable<AiRequestsTable>;

@Injectable()
export class AiRequestsRepository {
  constructor(@InjectDatabase() private readonly db: Db) {}

  async insert(row: Insertable<AiRequestsTable>): Promise<void> {
    await this.db.insertInto('ai_requests').values(row).execute();
  }

  async setStatus(channelId: string, status: string): Promise<void> {
    await this.db.updateTable('ai_requests').set({ status, updated_at: Date.now() }).where('channel_id', '=', channelId).execute();
  }

  /** Up to `limit` requests started before `before`, oldest first (retention); how many went. */
  async purgeBatch(before: number, limit: number): Promise<number> {
    const result = await this.db
      .deleteFrom('ai_requests')
      .where('channel_id', 'in', (eb) => eb.selectFrom('ai_requests').select('channel_id').where('created_at', '<', before).orderBy('created_at').limit(limit))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  find(channelId: string): Promise<AiRequest | undefined> {
    return this.db.selectFrom('ai_requests').selectAll().where('channel_id', '=', channelId).executeTakeFirst();
  }
}
