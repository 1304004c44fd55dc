import { Injectable, Module } from '@nestjs/common';
import { ModelRiverEvent } from '../../src/event-handlers/events/modelriver-event';
import { PermanentProcessingError } from '../../src/event-handlers/processing.errors';
import { EventProcessor, ProcessesEvent } from '../../src/event-handlers/processors/event-processor';
import { JsonObject } from '../../src/common/json';

/** Fails twice per channel (any error but PermanentProcessingError is retried), then succeeds; counts its runs. */
@Injectable()
@ProcessesEvent('modelriver.task.ai_generated.flaky_test')
export class FlakyTestProcessor implements EventProcessor {
  readonly runs = new Map<string, number>();

  process(event: ModelRiverEvent): Promise<JsonObject> {
    const run = (this.runs.get(event.channelId) ?? 0) + 1;
    this.runs.set(event.channelId, run);
    if (run <= 2) return Promise.reject(new Error(`flaky failure ${run}`));
    return Promise.resolve({ ...event.aiData, runs: run });
  }
}

@Injectable()
@ProcessesEvent('modelriver.task.ai_generated.broken_test')
export class BrokenTestProcessor implements EventProcessor {
  process(): Promise<JsonObject> {
    return Promise.reject(new PermanentProcessingError('the AI output cannot be used'));
  }
}

@Module({ providers: [FlakyTestProcessor, BrokenTestProcessor] })
export class TestProcessorsModule {}
