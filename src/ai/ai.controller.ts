import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import { AiService, RequestView } from './ai.service';
import { ApiTokenGuard } from './api-token.guard';
import { GenerateAnswer, GenerateRequestDto, ReconnectRequestDto } from './dto/generate-request.dto';

@Controller('ai')
@UseGuards(ApiTokenGuard)
export class AiController {
  constructor(private readonly ai: AiService) {}

  /** Starts an async request on ModelRiver and says how to follow it. */
  @Post('generate')
  @HttpCode(200)
  @UseGuards(ThrottlerGuard)
  generate(@Body() body: GenerateRequestDto): Promise<GenerateAnswer> {
    return this.ai.generate(body);
  }

  /** Polling fallback: where the request stands, with the AI data, the processed result and the callback outcome. */
  @Get('requests/:channel_id')
  find(@Param('channel_id') channelId: string): Promise<RequestView> {
    return this.ai.find(channelId);
  }
}

/** The route ModelRiver's browser SDK calls on the customer backend (direct mode). */
@Controller('api/v1/ai')
@UseGuards(ApiTokenGuard)
export class AiReconnectController {
  constructor(private readonly ai: AiService) {}

  @Post('reconnect')
  @HttpCode(200)
  @UseGuards(ThrottlerGuard)
  reconnect(@Body() body: ReconnectRequestDto): Promise<Record<string, unknown>> {
    return this.ai.reconnect(body.channel_id);
  }
}
