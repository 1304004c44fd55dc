import { Injectable } from '@nestjs/common';
import { InjectBackgroundDatabase } from '../../database/database.module';
import { Db } from '../../database/database.types';
import { newRowId } from '../../database/row-id';
import { JsonObject } from '../../common/json';
import { MODELRIVER_EVENTS, ModelRiverEvent } from '../events/modelriver-event';
import { PermanentProcessingError } from '../processing.errors';
import { validateEntities } from './entity-validation';
import { EventProcessor, ProcessesEvent } from './event-processor';

/** Validates extracted entities and stores the valid ones; unique per channel and name, so retries add nothing. */
@Injectable()
@ProcessesEvent(MODELRIVER_EVENTS.entitiesExtracted)
export class EntitiesExtractedProcessor implements EventProcessor {
  constructor(@InjectBackgroundDatabase() private readonly db: Db) {}

  async process(event: ModelRiverEvent): Promise<JsonObject> {
    const { aiData, channelId } = event;
    if (!Array.isArray(aiData.entities)) {
      throw new PermanentProcessingError('entities_extracted needs ai_response.data.entities to be an array');
    }
    const { valid, rejected } = validateEntities(aiData.entities);
    if (valid.length > 0) {
      const now = Date.now();
      await this.db
        .insertInto('entities')
        .values(
          valid.map((entity, position) => ({
            id: newRowId(),
            channel_id: channelId,
            name: entity.name,
            name_key: entity.name.toLowerCase(),
            type: entity.type,
            position,
            created_at: now,
          })),
        )
        .onConflict((oc) => oc.columns(['channel_id', 'name_key']).doNothing())
        .execute();
    }
    // entities_validated is the count, as ModelRiver's guide sends it; the list and the rejections ride beside it.
    return { ...aiData, entities_validated: valid.length, entities_valid: valid, entities_rejected: rejected };
  }
}
