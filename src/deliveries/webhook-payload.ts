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
  // Two parallel stacks rather than one of [value, depth] pairs: this runs on every webhook.
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const current = values.pop();
    const depth = depths.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Object.values(current)) {
      if (typeof child !== 'object' || child === null) continue;
      values.push(child);
      depths.push(depth + 1);
    }
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

/** A field's rule with its path split once: `[parent, child]` for a nested field. */
interface CompiledField extends Field {
  path: string;
  parent: string;
  child?: string;
}

const compile = (fields: Record<string, Field>): CompiledField[] =>
  Object.entries(fields).map(([path, field]) => {
    const [parent, child] = path.split('.', 2);
    return { ...field, path, parent, child };
  });

/** The rules for each known type (and for any other type: the base rules alone), worked out once. */
const BASE_FIELDS = compile(BASE);
const FIELDS_BY_TYPE = new Map(Object.entries(BY_TYPE).map(([type, fields]) => [type, compile({ ...BASE, ...fields })]));

/**
 * Validates a normalised payload by the rules for its type: one clear reason per field (`type is required`,
 * `channel_id must be at most 200 characters`). The payload itself is returned untouched, so fields ModelRiver
 * adds later survive into processing. A plain function: this runs on every webhook.
 */
export function validateWebhookPayload(payload: unknown, acceptedTypes?: readonly string[]): WebhookValidation {
  if (!isJsonObject(payload)) return { ok: false, errors: ['payload must be a JSON object'] };
  if (nestingDepth(payload, MAX_DEPTH) > MAX_DEPTH) return { ok: false, errors: [`payload nests deeper than ${MAX_DEPTH} levels`] };
  const errors: string[] = [];
  const fields = (typeof payload.type === 'string' ? FIELDS_BY_TYPE.get(payload.type) : undefined) ?? BASE_FIELDS;
  for (const field of fields) {
    let value = payload[field.parent];
    if (field.child !== undefined) {
      // A nested field is checked only when its parent is an object (the parent reports otherwise).
      if (!isJsonObject(value)) continue;
      value = value[field.child];
    }
    if (value === undefined || value === null) {
      if (field.required) errors.push(`${field.path} is required`);
      continue;
    }
    const problem = field.rule(value);
    if (problem) errors.push(`${field.path} ${problem}`);
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
