import { isJsonObject, JsonObject } from '../common/json';

/** The webhook types of docs/protocol.md §3. */
export const AI_GENERATED = 'task.ai_generated';
export const TASK_COMPLETED = 'task.completed';

const TYPE = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;
const CHANNEL_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** Deeper than any real payload; bounds the recursion of validation and processing. */
export const MAX_DEPTH = 64;

/** Iterative, so hostile nesting cannot overflow the stack; stops counting once past `limit`. */
export function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

export type WebhookValidation =
  | { ok: true; payload: JsonObject; type: string; channelId: string; event: string | null }
  | { ok: false; errors: string[] };

/** One field's rule: undefined when the value is fine, else what is wrong with it (after the field's name). */
type Rule = (value: unknown) => string | undefined;

const text =
  (min: number, max: number, pattern?: RegExp, shape?: string): Rule =>
  (value) => {
    if (typeof value !== 'string') return 'must be a string';
    if (value.length < min) return min === 1 ? 'must not be empty' : `must be at least ${min} characters`;
    if (value.length > max) return `must be at most ${max} characters`;
    if (pattern && !pattern.test(value)) return `must be ${shape}`;
    return undefined;
  };
const object: Rule = (value) => (isJsonObject(value) ? undefined : 'must be a JSON object');
const timestamp: Rule = (value) =>
  (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.length <= 64 && !Number.isNaN(Date.parse(value)))
    ? undefined
    : 'must be an ISO-8601 string or Unix seconds';
const oneOf =
  (...allowed: string[]): Rule =>
  (value) =>
    typeof value === 'string' && allowed.includes(value) ? undefined : `must be one of ${allowed.join(', ')}`;

interface Field {
  rule: Rule;
  required: boolean;
}
const required = (rule: Rule): Field => ({ rule, required: true });
const optional = (rule: Rule): Field => ({ rule, required: false });

/** What every delivery must carry to be stored and deduplicated. Unknown fields are kept, never stripped. */
const BASE: Record<string, Field> = {
  type: required(text(1, 100, TYPE, 'like task.<name> (lower case)')),
  channel_id: required(text(1, 200, CHANNEL_ID, 'letters, digits, and _ . : -')),
  timestamp: optional(timestamp),
  customer_data: optional(object),
  meta: optional(object),
};

const BY_TYPE: Record<string, Record<string, Field>> = {
  /** Event-driven workflows: ModelRiver waits for our callback. */
  [AI_GENERATED]: {
    event: required(text(1, 200)),
    ai_response: required(object),
    'ai_response.data': required(object),
    'ai_response.meta': optional(object),
    callback_url: required(text(1, 2048)),
  },
  /** Standard workflows: no callback; `data` is structured or a raw provider response. */
  [TASK_COMPLETED]: {
    status: required(oneOf('success', 'error')),
    workflow: optional(text(0, 200)),
  },
};

const at = (payload: JsonObject, path: string): unknown => {
  const [head, tail] = path.split('.', 2);
  const value = payload[head];
  return tail === undefined ? value : isJsonObject(value) ? value[tail] : undefined;
};

/**
 * Validates a normalised payload by the rules for its type: one clear reason per field (`type is required`,
 * `channel_id must be at most 200 characters`). The payload itself is returned untouched, so fields ModelRiver
 * adds later survive into processing. A plain function: this runs on every webhook.
 */
export function validateWebhookPayload(payload: unknown, acceptedTypes?: readonly string[]): WebhookValidation {
  if (!isJsonObject(payload)) return { ok: false, errors: ['payload must be a JSON object'] };
  if (nestingDepth(payload, MAX_DEPTH) > MAX_DEPTH) return { ok: false, errors: [`payload nests deeper than ${MAX_DEPTH} levels`] };
  const errors: string[] = [];
  const fields = { ...BASE, ...(typeof payload.type === 'string' ? BY_TYPE[payload.type] : undefined) };
  for (const [path, field] of Object.entries(fields)) {
    // A nested field is checked only when its parent is an object (the parent reports otherwise).
    if (path.includes('.') && !isJsonObject(payload[path.split('.')[0]])) continue;
    const value = at(payload, path);
    if (value === undefined || value === null) {
      if (field.required) errors.push(`${path} is required`);
      continue;
    }
    const problem = field.rule(value);
    if (problem) errors.push(`${path} ${problem}`);
  }
  if (errors.length === 0 && acceptedTypes && !acceptedTypes.includes(payload.type as string)) {
    errors.push(`type ${String(payload.type)} is not accepted (WEBHOOK_EVENT_TYPES)`);
  }
  if (errors.length > 0) return { ok: false, errors: errors.slice(0, 20) };
  return {
    ok: true,
    payload,
    type: payload.type as string,
    channelId: payload.channel_id as string,
    event: typeof payload.event === 'string' ? payload.event : null,
  };
}
