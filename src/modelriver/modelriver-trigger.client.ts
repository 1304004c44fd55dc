import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { AxiosError } from 'axios';
import { firstValueFrom } from 'rxjs';
import { GoneError, NotFoundError } from '../common/errors';
import { UpstreamError } from '../common/upstream.error';
import { modelriverConfig, ModelriverConfig } from '../config/configuration';

export interface StartRequest {
  workflow: string;
  messages: { role: 'user' | 'system'; content: string }[];
  metadata?: Record<string, unknown>;
}

/** ModelRiver's reply to an async start (docs/protocol.md §2); older pages say IN_PROGRESS for pending. */
export interface StartedRequest {
  channel_id: string;
  status: string;
  ws_token?: string;
  websocket_url?: string;
  websocket_channel?: string;
  project_id?: string;
  [key: string]: unknown;
}

const upstreamMessage = (data: unknown): string | undefined => {
  const error = (data as { error?: { message?: unknown } } | undefined)?.error;
  return typeof error?.message === 'string' ? error.message.slice(0, 300) : undefined;
};

/**
 * Starts requests on ModelRiver. A start is never retried blindly (a retry could start a second generation);
 * every failure becomes an UpstreamError the caller can act on.
 */
@Injectable()
export class ModelRiverTriggerClient {
  private readonly logger = new Logger(ModelRiverTriggerClient.name);

  constructor(
    private readonly http: HttpService,
    @Inject(modelriverConfig.KEY) private readonly config: ModelriverConfig,
  ) {}

  async start(request: StartRequest): Promise<StartedRequest> {
    const data = await this.post('/v1/ai/async', request);
    if (typeof data?.channel_id !== 'string' || data.channel_id.length === 0) {
      throw new UpstreamError(502, 'ModelRiver answered without a channel_id');
    }
    return data;
  }

  /**
   * A fresh single-use ws_token for a live request. ModelRiver's 404 (it does not know the channel) and 410 (the
   * request has finished) are answers, not failures: NotFoundError and GoneError, nothing logged as an error.
   */
  reconnect(channelId: string): Promise<StartedRequest> {
    const finished = () => new GoneError(`the request on channel ${channelId} has finished`);
    return this.post('/api/v1/ai/reconnect', { channel_id: channelId }, {
      404: () => new NotFoundError(`ModelRiver does not know channel ${channelId}`),
      409: finished,
      410: finished,
    });
  }

  /** `answers`: statuses that are an answer for this call, each turned into its typed error (nothing logged). */
  private async post(path: string, body: unknown, answers: Record<number, () => Error> = {}): Promise<StartedRequest> {
    const url = `${this.config.baseUrl}${path}`;
    try {
      const response = await firstValueFrom(
        this.http.post<StartedRequest>(url, body, {
          headers: { Authorization: `Bearer ${this.config.apiKey}`, 'Content-Type': 'application/json' },
          timeout: this.config.requestTimeoutMs,
          signal: AbortSignal.timeout(this.config.requestTimeoutMs),
          maxRedirects: 0,
          maxContentLength: 256 * 1024,
        }),
      );
      return response.data;
    } catch (error) {
      const answer = error instanceof AxiosError && error.response ? answers[error.response.status] : undefined;
      throw answer ? answer() : this.translate(error, path);
    }
  }

  private translate(error: unknown, path: string): UpstreamError {
    if (!(error instanceof AxiosError) || !error.response) {
      const timedOut = error instanceof AxiosError && (error.code === 'ECONNABORTED' || error.code === 'ERR_CANCELED');
      const message = error instanceof Error ? error.message : String(error);
      this.logger.warn(`ModelRiver ${path} ${timedOut ? 'timed out' : 'unreachable'}: ${message}`);
      return timedOut
        ? new UpstreamError(504, 'ModelRiver did not answer in time', { cause: error })
        : new UpstreamError(502, 'ModelRiver is unreachable', { cause: error });
    }
    const { status, headers } = error.response;
    const data: unknown = error.response.data;
    const detail = upstreamMessage(data);
    switch (true) {
      case status === 401 || status === 403:
        // Our credentials are wrong: an operator must act, the caller cannot.
        this.logger.error(`ModelRiver ${path} refused our API key (${status}): ${detail ?? ''}`);
        return new UpstreamError(502, 'ModelRiver refused the backend credentials', { cause: error });
      case status === 404:
        return new UpstreamError(400, detail ?? 'unknown workflow', { cause: error });
      case status === 400 || status === 422:
        return new UpstreamError(400, detail ?? 'ModelRiver rejected the request', { cause: error });
      case status === 429: {
        const retryAfter = headers['retry-after'] as unknown;
        return new UpstreamError(429, 'ModelRiver rate limit reached; retry later', {
          cause: error,
          retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined,
        });
      }
      case status === 504:
        return new UpstreamError(504, 'ModelRiver timed out', { cause: error });
      default:
        this.logger.warn(`ModelRiver ${path} failed with ${status}${detail ? `: ${detail}` : ''}`);
        return new UpstreamError(502, `ModelRiver failed (${status})`, { cause: error });
    }
  }
}
