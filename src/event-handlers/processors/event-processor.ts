import { SetMetadata } from '@nestjs/common';
import { JsonObject } from '../../common/json';
import { ModelRiverEvent } from '../events/modelriver-event';

export const EVENT_PROCESSOR = Symbol('EVENT_PROCESSOR');

/**
 * One class per ModelRiver event. `process` returns the data to send back (or to store, for task.completed);
 * it must be idempotent (a retried delivery runs it again) and must not send HTTP itself.
 */
export interface EventProcessor {
  process(event: ModelRiverEvent): Promise<JsonObject>;
}

/** Registers the class as the processor of `eventName` (a MODELRIVER_EVENTS value). */
export const ProcessesEvent = (eventName: string): ClassDecorator => SetMetadata(EVENT_PROCESSOR, eventName);
