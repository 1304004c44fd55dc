import { Injectable } from '@nestjs/common';
import { InjectBackgroundDatabase } from '../../database/database.module';
import { Db, EntitiesTable } from '../../database/database.types';
import { PreparedQuery } from '../../database/prepared-query';
import { newRowId } from '../../database/row-id';
import { JsonObject, merged } from '../../common/json';
import { MODELRIVER_EVENTS, ModelRiverEvent } from '../events/modelriver-event';
import { PermanentProcessingError } from '../processing.errors';
import { validateEntities } from './entity-validation';
import { EventProcessor, ProcessesEvent } from './event-processor';

type Entity = Pick<EntitiesTable, keyof EntitiesTable>;
const ENTITY_COLUMNS = ['id', 'channel_id', 'name', 'name_key', 'type', 'position', 'created_at'] as const satisfies readonly (keyof Entity)[];
/** Lists up to this long are inserted by a statement compiled once per length (see PreparedQuery); longer ones are built each time. */
const PREPARED_LENGTHS = 16;
/** Row `n`'s value for `column` in a prepared multi-row insert. */
const slotName = (column: string, n: number) => `${column}_${n}`;

/** Validates extracted entities and stores the valid ones; unique per channel and name, so retries add nothing. */
@Injectable()
@ProcessesEvent(MODELRIVER_EVENTS.entitiesExtracted)
export class EntitiesExtractedProcessor implements EventProcessor {
  private readonly prepared = new Map<number, PreparedQuery<Record<string, unknown>>>();

  constructor(@InjectBackgroundDatabase() private readonly db: Db) {}

  async process(event: ModelRiverEvent): Promise<JsonObject> {
    const { aiData, channelId } = event;
    if (!Array.isArray(aiData.entities)) {
      throw new PermanentProcessingError('entities_extracted needs ai_response.data.entities to be an array');
    }
    const { valid, rejected } = validateEntities(aiData.entities);
    if (valid.length > 0) {
      const now = Date.now();
      await this.insert(
        valid.map((entity, position) => ({
          id: newRowId(),
          channel_id: channelId,
          name: entity.name,
          name_key: entity.name.toLowerCase(),
          type: entity.type,
          position,
          created_at: now,
        })),
      );
    }
    // entities_validated is the count, as ModelRiver's guide sends it; the list and the rejections ride beside it.
    return merged(aiData, { entities_validated: valid.length, entities_valid: valid, entities_rejected: rejected });
  }

  private async insert(rows: Entity[]): Promise<void> {
    const statement = (values: Entity[]) => this.db.insertInto('entities').values(values).onConflict((oc) => oc.columns(['channel_id', 'name_key']).doNothing());
    if (rows.length > PREPARED_LENGTHS) {
      await statement(rows).execute();
      return;
    }
    let prepared = this.prepared.get(rows.length);
    if (!prepared) {
      const names = rows.flatMap((_, n) => ENTITY_COLUMNS.map((column) => slotName(column, n)));
      prepared = new PreparedQuery(this.db, names, (slot) =>
        statement(rows.map((_, n) => Object.fromEntries(ENTITY_COLUMNS.map((column) => [column, slot(slotName(column, n))])) as Entity)),
      );
      this.prepared.set(rows.length, prepared);
    }
    const values: Record<string, unknown> = {};
    rows.forEach((row, n) => ENTITY_COLUMNS.forEach((column) => (values[slotName(column, n)] = row[column])));
    await prepared.execute(values);
  }
}
