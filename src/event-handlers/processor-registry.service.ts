import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { JsonObject } from '../webhooks/webhook-envelope';
import { ModelRiverEvent } from './events/modelriver-event';
import { EVENT_PROCESSOR, EventProcessor } from './processors/event-processor';

export class DuplicateProcessorError extends Error {
  override name = 'DuplicateProcessorError';
}

/**
 * Finds every @ProcessesEvent class at boot, refuses two processors for one event name, and subscribes each
 * to the event bus, where the dispatcher reaches it with emitAsync.
 */
@Injectable()
export class ProcessorRegistry implements OnModuleInit {
  private readonly logger = new Logger(ProcessorRegistry.name);
  private readonly names = new Set<string>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
    private readonly events: EventEmitter2,
  ) {}

  onModuleInit(): void {
    const found = new Map<string, string>();
    for (const wrapper of this.discovery.getProviders()) {
      const instance: unknown = wrapper.instance;
      const { metatype } = wrapper;
      if (!instance || !metatype) continue;
      const eventName = this.reflector.get<string | undefined>(EVENT_PROCESSOR, metatype);
      if (!eventName) continue;
      const existing = found.get(eventName);
      if (existing) {
        throw new DuplicateProcessorError(`event ${eventName} has two processors: ${existing} and ${metatype.name}`);
      }
      found.set(eventName, metatype.name);
      const processor = instance as EventProcessor;
      // emitAsync awaits what listeners return, so the processor's promise (and its rejection) reaches the dispatcher.
      const listener = (event: ModelRiverEvent): Promise<JsonObject> => processor.process(event);
      this.events.on(eventName, listener as (event: ModelRiverEvent) => void);
      this.names.add(eventName);
    }
    this.logger.log(`processors: ${[...found].map(([event, cls]) => `${event} → ${cls}`).join(', ')}`);
  }

  has(eventName: string): boolean {
    return this.names.has(eventName);
  }
}
