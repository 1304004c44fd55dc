import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, Reflector } from '@nestjs/core';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { JsonObject } from '../common/json';
import { EventRoute, ModelRiverEvent } from './events/modelriver-event';
import { EVENT_PROCESSOR, EventProcessor } from './processors/event-processor';

/** The routing table the registry checks at boot (EVENT_ROUTES in the app; tests give their own). */
export const EVENT_ROUTING = Symbol('EVENT_ROUTING');

/** Two processors for one event, a routed event without one, or a pass-through event with one. */
export class ProcessorRoutingError extends Error {
  override name = 'ProcessorRoutingError';
}

/**
 * Finds every @ProcessesEvent class at boot and subscribes each to the event bus, where the dispatcher reaches
 * it with emitAsync. Refuses to boot on an ambiguous or incomplete routing: two processors for one event, an
 * event the routing table sends to a processor that does not exist, or a pass-through event that has one.
 */
@Injectable()
export class ProcessorRegistry implements OnModuleInit {
  private readonly logger = new Logger(ProcessorRegistry.name);
  private readonly processors = new Set<string>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
    private readonly events: EventEmitter2,
    @Inject(EVENT_ROUTING) private readonly routes: Readonly<Record<string, EventRoute>>,
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
      if (existing) throw new ProcessorRoutingError(`event ${eventName} has two processors: ${existing} and ${metatype.name}`);
      if (this.routes[eventName] === 'pass_through') {
        throw new ProcessorRoutingError(`event ${eventName} is routed as pass-through but ${metatype.name} processes it`);
      }
      found.set(eventName, metatype.name);
      const processor = instance as EventProcessor;
      // emitAsync awaits what listeners return, so the processor's promise (and its rejection) reaches the dispatcher.
      const listener = (event: ModelRiverEvent): Promise<JsonObject> => processor.process(event);
      this.events.on(eventName, listener as (event: ModelRiverEvent) => void);
      this.processors.add(eventName);
    }
    const missing = Object.entries(this.routes).filter(([name, route]) => route === 'processor' && !found.has(name));
    if (missing.length > 0) {
      throw new ProcessorRoutingError(
        `no processor for routed event ${missing.map(([name]) => name).join(', ')}: list its class in a module's providers, or route it as pass_through`,
      );
    }
    this.logger.debug(`processors: ${[...found].map(([event, cls]) => `${event} → ${cls}`).join(', ')}`);
  }

  /** How an event is handled: its processor, an explicit pass-through, or undefined (UNKNOWN_EVENT_POLICY decides). */
  route(eventName: string): EventRoute | undefined {
    return this.processors.has(eventName) ? 'processor' : this.routes[eventName] === 'pass_through' ? 'pass_through' : undefined;
  }
}
