import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ThrottlerGuard } from '@nestjs/throttler';
import { AiService, RequestView } from './ai.service';
import { ApiTokenGuard } from './api-token.guard';
import { GenerateAnswer, GenerateRequestDto, ReconnectRequestDto } from './dto/generate-request.dto';

@ApiTags('ai')
@ApiBearerAuth()
@ApiResponse({ status: 401, description: 'API_TOKENS is set and the bearer token is missing or wrong' })
@Controller('ai')
@UseGuards(ApiTokenGuard)
export class AiController {
  constructor(private readonly ai: AiService) {}

  /** Starts an async request on ModelRiver and says how to follow it. */
  @Post('generate')
  @HttpCode(200)
  @UseGuards(ThrottlerGuard)
  @ApiResponse({ status: 200, description: '{channel_id, status, workflow, status_url, realtime} (+ ws_token, websocket_url, websocket_channel in direct mode)' })
  @ApiResponse({ status: 400, description: 'invalid input or unknown workflow' })
  @ApiResponse({ status: 429, description: 'rate limited (ours, or ModelRiver’s with its Retry-After)' })
  @ApiResponse({ status: 502, description: 'ModelRiver failed or refused our credentials' })
  @ApiResponse({ status: 504, description: 'ModelRiver did not answer in time' })
  generate(@Body() body: GenerateRequestDto): Promise<GenerateAnswer> {
    return this.ai.generate(body);
  }

  /** Polling fallback: where the request stands, with the AI data, the processed result and the callback outcome. */
  @Get('requests/:channel_id')
  @ApiResponse({ status: 200, description: 'status, ai_data, result, callback outcome, error' })
  @ApiResponse({ status: 404, description: 'unknown channel' })
  find(@Param('channel_id') channelId: string): Promise<RequestView> {
    return this.ai.find(channelId);
  }
}

/**
 * The route ModelRiver's browser SDK calls on the customer backend (direct mode). The SDK sends no
 * Authorization header (it cannot): the channel id, which only the starter of the request was given, is the
 * capability, so this route needs no API token even with API_TOKENS set. It is rate limited per client.
 */
@ApiTags('ai')
@Controller('api/v1/ai')
export class AiReconnectController {
  constructor(private readonly ai: AiService) {}

  @Post('reconnect')
  @HttpCode(200)
  @ApiResponse({ status: 200, description: '{channel_id, ws_token, websocket_url, websocket_channel, project_id}' })
  @ApiResponse({ status: 400, description: 'invalid body' })
  @ApiResponse({ status: 404, description: 'not direct mode, or a channel this backend did not start' })
  @ApiResponse({ status: 410, description: 'the request has finished (its result is at /ai/requests/:channel_id)' })
  @ApiResponse({ status: 429, description: 'rate limited' })
  @ApiResponse({ status: 502, description: 'ModelRiver failed' })
  @UseGuards(ThrottlerGuard)
  reconnect(@Body() body: ReconnectRequestDto): Promise<Record<string, unknown>> {
    return this.ai.reconnect(body.channel_id);
  }
}
