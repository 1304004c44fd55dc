import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { GoneError, InvalidRequestError, NotFoundError, ServiceUnavailableError } from '../common/errors';
import { isJsonObject } from '../common/json';
import { aiConfig, AiConfig, realtimeConfig, RealtimeConfig } from '../config/configuration';
import { CallbackAttemptsRepository } from '../deliveries/callback-attempts.repository';
import { DeliveriesRepository } from '../deliveries/deliveries.repository';
import { readStoredPayload } from '../deliveries/delivery-payload';
import { ModelRiverTriggerClient, StartedRequest } from '../modelriver/modelriver-trigger.client';
import { AiRequestsRepository } from './ai-requests.repository';
import { GenerateAnswer, GenerateRequestDto } from './dto/generate-request.dto';
import { AI_REQUEST_STARTED, AiRequestStartedEvent } from './events/ai-request-started.event';
import { deriveRequestStatus, RequestStatus } from './request-status';
import { signSubscriptionToken } from './subscription-token';

export interface RequestView {
  channel_id: string;
  workflow: string;
  status: RequestStatus;
  created_at: string;
  updated_at: string;
  /** What the model produced (from the webhook), once it arrived. */
  ai_data: unknown;
  /** What our processor returned and sent back. */
  result: unknown;
  callback: { status: string | null; attempts: number; last_status_code: number | null } | null;
  error: string | null;
}

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

@Injectable()
export class AiService {
  private readonly logger = new Logger(AiService.name);

  constructor(
    private readonly trigger: ModelRiverTriggerClient,
    private readonly requests: AiRequestsRepository,
    private readonly deliveries: DeliveriesRepository,
    private readonly attempts: CallbackAttemptsRepository,
    private readonly events: EventEmitter2,
    @Inject(aiConfig.KEY) private readonly config: AiConfig,
    @Inject(realtimeConfig.KEY) private readonly realtime: RealtimeConfig,
  ) {}

  async generate(dto: GenerateRequestDto): Promise<GenerateAnswer> {
    const metadata = dto.metadata ?? {};
    if (Buffer.byteLength(JSON.stringify(metadata)) > this.config.metadataMaxBytes) {
      throw new InvalidRequestError(`metadata must be at most ${this.config.metadataMaxBytes} bytes of JSON`);
    }
    const workflow = dto.workflow ?? this.config.defaultWorkflow;
    const started = await this.trigger.start({ workflow, messages: [{ role: 'user', content: dto.prompt }], metadata });
    // The ws_token is a single-use credential: it is never stored.
    const { ws_token: _token, ...upstream } = started;
    const status = started.status === 'IN_PROGRESS' || typeof started.status !== 'string' ? 'pending' : started.status;
    const now = Date.now();
    try {
      await this.requests.insert({
        channel_id: started.channel_id,
        workflow,
        status,
        metadata: JSON.stringify(metadata),
        upstream_response: JSON.stringify(upstream),
        created_at: now,
        updated_at: now,
      });
    } catch (error) {
      throw new ServiceUnavailableError('request storage is unavailable', { cause: error });
    }
    this.logger.log(`started ${workflow} request on channel ${started.channel_id}`);
    // Gateway mode opens the upstream channel now: Phoenix does not replay pushes sent before a join.
    this.events.emit(
      AI_REQUEST_STARTED,
      new AiRequestStartedEvent(started.channel_id, started.ws_token, started.websocket_url, started.websocket_channel),
    );
    const expiresAt = new Date(Date.now() + this.realtime.tokenTtlMs);
    return {
      channel_id: started.channel_id,
      status,
      workflow,
      status_url: `/ai/requests/${started.channel_id}`,
      realtime: {
        namespace: '/ai',
        subscribe_token: signSubscriptionToken(started.channel_id, expiresAt, this.realtime.tokenSecret),
        expires_at: expiresAt.toISOString(),
      },
      ...(this.realtime.mode === 'direct' ? this.directFields(started) : {}),
    };
  }

  /**
   * Direct mode: a fresh ws_token for ModelRiver's browser SDK, relayed from ModelRiver's reconnect endpoint. The
   * channel id is the capability (the SDK cannot send a token): only a request this backend started and that has
   * not finished (410 once it has: its result is at the status URL).
   */
  async reconnect(channelId: string): Promise<Record<string, unknown>> {
    if (this.realtime.mode !== 'direct') throw new NotFoundError('reconnect is served in direct realtime mode only');
    const request = await this.requests.find(channelId);
    if (!request) throw new NotFoundError(`no request with channel_id ${channelId}`);
    const status = deriveRequestStatus(request.status, await this.deliveries.findForChannel(channelId));
    if (status === 'completed' || status === 'failed') {
      throw new GoneError(`the request on channel ${channelId} has ${status}; its result is at /ai/requests/${channelId}`);
    }
    const fresh = await this.trigger.reconnect(channelId);
    return { channel_id: channelId, ...this.directFields(fresh), project_id: fresh.project_id ?? null };
  }

  private directFields(upstream: StartedRequest) {
    return { ws_token: upstream.ws_token, websocket_url: upstream.websocket_url, websocket_channel: upstream.websocket_channel };
  }

  /** What ModelRiver last said of a request (the realtime relay hears it first); the status API reads it. */
  async recordUpstreamStatus(channelId: string, status: string): Promise<void> {
    await this.requests.setStatus(channelId, status);
  }

  /** The request as a client sees it: ModelRiver's status, our delivery, its result and callback outcome. */
  async find(channelId: string): Promise<RequestView> {
    const request = await this.requests.find(channelId);
    if (!request) throw new NotFoundError(`no request with channel_id ${channelId}`);
    const delivery = await this.deliveries.findForChannel(channelId);
    const attempts = delivery ? await this.attempts.list(delivery.id) : [];
    const payload = delivery ? readStoredPayload(delivery) : undefined;
    const aiResponse = payload && isJsonObject(payload.ai_response) ? payload.ai_response : undefined;
    const status = deriveRequestStatus(request.status, delivery);
    const last = attempts.at(-1);
    return {
      channel_id: request.channel_id,
      workflow: request.workflow,
      status,
      created_at: new Date(Number(request.created_at)).toISOString(),
      updated_at: new Date(Math.max(Number(request.updated_at), Number(delivery?.updated_at ?? 0))).toISOString(),
      ai_data: aiResponse?.data ?? payload?.data ?? null,
      result: parseJson(delivery?.result ?? null),
      callback: delivery ? { status: delivery.callback_status, attempts: attempts.length, last_status_code: last?.status_code ?? null } : null,
      error: status === 'failed' ? (delivery?.last_error ?? 'the request failed upstream') : null,
    };
  }
}
