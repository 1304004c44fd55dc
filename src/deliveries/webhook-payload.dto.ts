import { plainToInstance, Type } from 'class-transformer';
import {
  Equals,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Matches,
  MaxLength,
  registerDecorator,
  validateSync,
  ValidateNested,
  ValidationError,
  ValidationOptions,
} from 'class-validator';
import { isJsonObject, JsonObject } from '../common/json';

export const AI_GENERATED = 'task.ai_generated';
export const TASK_COMPLETED = 'task.completed';

const CHANNEL_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

function IsTimestamp(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isTimestamp',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: '$property must be an ISO-8601 string or Unix seconds', ...options },
      validator: {
        validate: (value: unknown) =>
          (typeof value === 'number' && Number.isFinite(value)) ||
          (typeof value === 'string' && value.length <= 64 && !Number.isNaN(Date.parse(value))),
      },
    });
}

/** What every delivery must carry to be stored and deduplicated. Unknown fields are kept, never stripped. */
export class WebhookBaseDto {
  @IsString()
  @Matches(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/, { message: 'type must look like task.<name>' })
  @MaxLength(100)
  type: string;

  @IsString()
  @Length(1, 200)
  @Matches(CHANNEL_ID, { message: 'channel_id must be letters, digits, and _ . : -' })
  channel_id: string;

  @IsOptional()
  @IsTimestamp()
  timestamp?: string | number;

  @IsOptional()
  @IsObject()
  customer_data?: JsonObject;

  @IsOptional()
  @IsObject()
  meta?: JsonObject;
}

export class AiResponseDto {
  @IsObject()
  data: JsonObject;

  @IsOptional()
  @IsObject()
  meta?: JsonObject;
}

/** Event-driven workflows: ModelRiver waits for our callback. */
export class AiGeneratedWebhookDto extends WebhookBaseDto {
  @Equals(AI_GENERATED)
  declare type: typeof AI_GENERATED;

  @IsString()
  @Length(1, 200)
  event: string;

  @ValidateNested()
  @Type(() => AiResponseDto)
  ai_response: AiResponseDto;

  @IsString()
  @Length(1, 2048)
  callback_url: string;
}

/** Standard workflows: no callback; `data` is structured or a raw provider response. */
export class CompletedWebhookDto extends WebhookBaseDto {
  @Equals(TASK_COMPLETED)
  declare type: typeof TASK_COMPLETED;

  @IsIn(['success', 'error'])
  status: 'success' | 'error';

  @IsOptional()
  @IsString()
  workflow?: string;
}

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

function flatten(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((error) => {
    const path = `${prefix}${error.property}`;
    const own = Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(error.property) ? `${prefix}${message}` : `${path}: ${message}`,
    );
    return [...own, ...flatten(error.children ?? [], `${path}.`)];
  });
}

/**
 * Validates a normalised payload against the DTO for its type. The payload itself is returned untouched
 * (the DTO instance is only a lens), so fields ModelRiver adds later survive into processing.
 */
export function validateWebhookPayload(payload: unknown, acceptedTypes?: readonly string[]): WebhookValidation {
  if (!isJsonObject(payload)) return { ok: false, errors: ['payload must be a JSON object'] };
  if (nestingDepth(payload, MAX_DEPTH) > MAX_DEPTH) {
    return { ok: false, errors: [`payload nests deeper than ${MAX_DEPTH} levels`] };
  }
  const dto =
    payload.type === AI_GENERATED
      ? AiGeneratedWebhookDto
      : payload.type === TASK_COMPLETED
        ? CompletedWebhookDto
        : WebhookBaseDto;
  const errors = flatten(validateSync(plainToInstance(dto, payload), { forbidUnknownValues: false, stopAtFirstError: true }));
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
