import { Injectable } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import { ModelRiverEvent } from './events/modelriver-event';
import { DuplicateProcessorError, ProcessorRegistry } from './processor-registry.service';
import { EventProcessor, ProcessesEvent } from './processors/event-processor';

@Injectable()
@ProcessesEvent('modelriver.task.ai_generated.same')
class FirstProcessor implements EventProcessor {
  process(event: ModelRiverEvent) {
    return Promise.resolve({ by: 'first', channel: event.channelId });
  }
}

@Injectable()
@ProcessesEvent('modelriver.task.ai_generated.same')
class SecondProcessor implements EventProcessor {
  process() {
    return Promise.resolve({ by: 'second' });
  }
}

async function boot(...processors: (new () => EventProcessor)[]) {
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule],
    providers: [...processors, ProcessorRegistry, { provide: EventEmitter2, useValue: new EventEmitter2() }],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe('ProcessorRegistry', () => {
  it('refuses to boot when two processors claim one event name', async () => {
    await expect(boot(FirstProcessor, SecondProcessor)).rejects.toThrow(DuplicateProcessorError);
    await expect(boot(FirstProcessor, SecondProcessor)).rejects.toThrow(/FirstProcessor and SecondProcessor/);
  });

  it('subscribes the one processor, reachable with emitAsync', async () => {
    const moduleRef = await boot(FirstProcessor);
    const registry = moduleRef.get(ProcessorRegistry);
    expect(registry.has('modelriver.task.ai_generated.same')).toBe(true);
    expect(registry.has('modelriver.task.ai_generated.other')).toBe(false);
    const results = await moduleRef.get(EventEmitter2).emitAsync('modelriver.task.ai_generated.same', { channelId: 'c1' });
    expect(results).toEqual([{ by: 'first', channel: 'c1' }]);
  });
});
