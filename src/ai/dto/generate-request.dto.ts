import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsObject, IsOptional, IsString, Length, Matches } from 'class-validator';

export class GenerateRequestDto {
  @ApiProperty({ minLength: 1, maxLength: 8000, example: 'Write about Ada Lovelace and Charles Babbage in London' })
  @IsString()
  @Length(1, 8000)
  @Matches(/\S/, { message: 'prompt must not be blank' })
  prompt: string;

  @ApiPropertyOptional({ example: 'content_generator', description: 'defaults to AI_DEFAULT_WORKFLOW' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.-]{1,100}$/, { message: 'workflow must be a workflow name' })
  workflow?: string;

  /** Echoed by ModelRiver as customer_data; capped by AI_METADATA_MAX_BYTES. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'at most AI_METADATA_MAX_BYTES of JSON' })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export interface GenerateAnswer {
  channel_id: string;
  status: string;
  workflow: string;
  /** Polling fallback for clients without sockets. */
  status_url: string;
  /** How to follow the request on our socket.io gateway. */
  realtime: { namespace: string; subscribe_token: string; expires_at: string };
  /** Direct mode only: for ModelRiver's own browser SDK. */
  ws_token?: string;
  websocket_url?: string;
  websocket_channel?: string;
}

export class ReconnectRequestDto {
  @ApiProperty()
  @IsString()
  @Length(1, 200)
  channel_id: string;
}
