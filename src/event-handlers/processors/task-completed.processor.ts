import { Injectable } from '@nestjs/common';
import { InjectBackgroundDatabase } from '../../database/database.module';
import { Db } from '../../database/database.types';
import { JsonObject, merged } from '../../common/json';
import { MODELRIVER_EVENTS, ModelRiverEvent } from '../events/modelriver-event';
import { EventProcessor, ProcessesEvent } from './event-processor';

/** Standard workflows (no event, no callback): keep the result for the channel. */
@Injectable()
@ProcessesEvent(MODELRIVER_EVENTS.taskCompleted)
export class TaskCompletedProcessor implements EventProcessor {
  constructor(@InjectBackgroundDatabase() private readonly db: Db) {}

  async process(event: ModelRiverEvent): Promise<JsonObject> {
    await this.db
      .insertInto('task_results')
      .values({
        channel_id: event.channelId,
        workflow: event.workflow,
        status: event.status ?? 'success',
        data: JSON.stringify(event.aiData),
        meta: JSON.stringify(event.meta),
        created_at: Date.now(),
      })
      .onConflict((oc) => oc.column('channel_id').doNothing())
      .execute();
    return merged(event.aiData, { stored: true });
  }
}
