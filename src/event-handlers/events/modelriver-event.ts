import { isJsonObject, JsonObject } from '../../common/json';
import { AI_GENERATED, TASK_COMPLETED } from '../../deliveries/webhook-payload';

/** Event names on the in-process bus: `modelriver.<type>[.<event>]`. */
export const MODELRIVER_EVENTS = {
  contentReady: `modelriver.${AI_GENERATED}.content_ready`,
  entitiesExtracted: `modelriver.${AI_GENERATED}.entities_extracted`,
  taskCompleted: `modelriver.${TASK_COMPLETED}`,
} as const;

/** How an event the app routes is handled: by its one processor, or passed through (the AI data called back unchanged). */
export type EventRoute = 'processor' | 'pass_through';

/**
 * The events this app routes. Boot fails if a `processor` route has no processor (or a `pass_through` route
 * has one); an event outside this table (and without a processor) follows UNKNOWN_EVENT_POLICY.
 */
export const EVENT_ROUTES: Readonly<Record<string, EventRoute>> = {
  [MODELRIVER_EVENTS.contentReady]: 'processor',
  [MODELRIVER_EVENTS.entitiesExtracted]: 'processor',
  [MODELRIVER_EVENTS.taskCompleted]: 'processor',
};

export function modelRiverEventName(type: string, event: string | null): string {
  return event ? `modelriver.${type}.${event}` : `modelriver.${type}`;
}

/** What a processor receives: the delivery, normalised, with the AI output in one place whatever the type. */
export interface ModelRiverEvent {
  deliveryId: string;
  name: string;
  type: string;
  event: string | null;
  channelId: string;
  /** `ai_response.data` for event-driven workflows, `data` for task.completed (wrapped if not an object). */
  aiData: JsonObject;
  aiMeta: JsonObject;
  customerData: JsonObject;
  meta: JsonObject;
  callbackUrl: string | null;
  /** task.completed only: `success` or `error`. */
  status: string | null;
  workflow: string | null;
}

const objectOr = (value: unknown, fallback: JsonObject = {}): JsonObject => (isJsonObject(value) ? value : fallback);

export function toModelRiverEvent(deliveryId: string, payload: JsonObject): ModelRiverEvent {
  const type = String(payload.type);
  const event = typeof payload.event === 'string' ? payload.event : null;
  const aiResponse = objectOr(payload.ai_response);
  const aiData =
    type === AI_GENERATED
      ? objectOr(aiResponse.data)
      : isJsonObject(payload.data)
        ? payload.data
        : payload.data === undefined
          ? {}
          : { value: payload.data };
  return {
    deliveryId,
    name: modelRiverEventName(type, event),
    type,
    event,
    channelId: String(payload.channel_id),
    aiData,
    aiMeta: objectOr(aiResponse.meta),
    customerData: objectOr(payload.customer_data),
    meta: objectOr(payload.meta),
    callbackUrl: typeof payload.callback_url === 'string' ? payload.callback_url : null,
    status: typeof payload.status === 'string' ? payload.status : null,
    workflow: typeof payload.workflow === 'string' ? payload.workflow : null,
  };
}
