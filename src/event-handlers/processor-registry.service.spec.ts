import { Injectable } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import { EventRoute, ModelRiverEvent } from './events/modelriver-event';
import { EVENT_ROUTING, ProcessorRegistry, ProcessorRoutingError } from './processor-registry.service';
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

async function boot(routes: Record<string, EventRoute>, ...processors: (new () => EventProcessor)[]) {
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule],
    providers: [...processors, ProcessorRegistry, { provide: EventEmitter2, useValue: new EventEmitter2() }, { provide: EVENT_ROUTING, useValue: routes }],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

describe('ProcessorRegistry', () => {
  it('refuses to boot when two processors claim one event name', async () => {
    await expect(boot({}, FirstProcessor, SecondProcessor)).rejects.toThrow(ProcessorRoutingError);
    await expect(boot({}, FirstProcessor, SecondProcessor)).rejects.toThrow(/FirstProcessor and SecondProcessor/);
  });

  it('refuses to boot when a routed event has no processor', async () => {
    await expect(boot({ 'modelriver.task.ai_generated.missing': 'processor' }, FirstProcessor)).rejects.toThrow(
      /no processor for routed event modelriver\.task\.ai_generated\.missing/,
    );
  });

  it('refuses to boot when a pass-through event has a processor', async () => {
    await expect(boot({ 'modelriver.task.ai_generated.same': 'pass_through' }, FirstProcessor)).rejects.toThrow(/routed as pass-through but FirstProcessor/);
  });

  it('subscribes the one processor, reachable with emitAsync, and routes the rest by the table', async () => {
    const moduleRef = await boot({ 'modelriver.task.ai_generated.same': 'processor', 'modelriver.task.ai_generated.echo': 'pass_through' }, FirstProcessor);
    const registry = moduleRef.get(ProcessorRegistry);
    expect(registry.route('modelriver.task.ai_generated.same')).toBe('processor');
    expect(registry.route('modelriver.task.ai_generated.echo')).toBe('pass_through');
    expect(registry.route('modelriver.task.ai_generated.other')).toBeUndefined();
    const results = await moduleRef.get(EventEmitter2).emitAsync('modelriver.task.ai_generated.same', { channelId: 'c1' });
    expect(results).toEqual([{ by: 'first', channel: 'c1' }]);
  });
});
