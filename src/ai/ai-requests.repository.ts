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

  find(channelId: string): Promise<AiRequest | undefined> {
    return this.db.selectFrom('ai_requests').selectAll().where('channel_id', '=', channelId).executeTakeFirst();
  }
}
