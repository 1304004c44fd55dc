import { Socket, TcpNetConnectOpts } from 'node:net';
import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { AxiosError } from 'axios';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { firstValueFrom } from 'rxjs';
import { callbackConfig, CallbackConfig } from '../../config/configuration';
import { CallbackOutcome } from '../../database/database.types';
import { allowlistedAddresses } from './callback-url.policy';

export interface CallbackResponse {
  outcome: CallbackOutcome;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  /** From a Retry-After header on 429/503, in milliseconds. */
  retryAfterMs: number | null;
}

type ConnectionListener = (error: Error | null, socket: Socket) => void;

/** Fails a connection that is not established in time; the total deadline covers the rest of the exchange. */
function withConnectTimeout(socket: Socket, timeoutMs: number): Socket {
  if (!socket.connecting) return socket;
  const timer = setTimeout(() => socket.destroy(new Error(`connect timeout after ${timeoutMs} ms`)), timeoutMs);
  const clear = () => clearTimeout(timer);
  socket.once('connect', clear);
  socket.once('close', clear);
  return socket;
}

type FilteringAgentClass = typeof RequestFilteringHttpAgent | typeof RequestFilteringHttpsAgent;

/** Adds the connect timeout to a request-filtering agent class (http or https: the same code for both). */
function withConnectTimeouts<T extends FilteringAgentClass>(Base: T, connectTimeoutMs: number): T {
  // Both bases share createConnection's signature; TypeScript cannot extend a union of classes directly.
  class Guarded extends (Base as typeof RequestFilteringHttpAgent) {
    override createConnection(options: TcpNetConnectOpts, listener?: ConnectionListener): Socket {
      return withConnectTimeout(super.createConnection(options, listener) as Socket, connectTimeoutMs);
    }
  }
  return Guarded as unknown as T;
}

/** request-filtering-agent's refusal: a private, loopback, link-local or meta address at connect time. */
const REFUSED_ADDRESS = /is not allowed\. Because/;

export function parseRetryAfter(value: unknown, now = Date.now()): number | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** 2xx and 409 (already completed) are done; 408, 429 and 5xx are worth retrying; the rest is final. */
export function classifyStatus(status: number): CallbackOutcome {
  if ((status >= 200 && status < 300) || status === 409) return 'delivered';
  if (status === 408 || status === 429 || status >= 500) return 'retryable';
  return 'final';
}

/**
 * One POST to a ModelRiver callback URL. Never follows redirects; refuses private addresses when the socket
 * connects (names that resolve to them included) unless that IP is allowlisted; bounded by a connect timeout
 * and a total deadline. Returns a classified outcome and never throws.
 */
@Injectable()
export class ModelRiverCallbackClient implements OnApplicationShutdown {
  private readonly httpAgent: RequestFilteringHttpAgent;
  private readonly httpsAgent: RequestFilteringHttpsAgent;

  constructor(
    private readonly http: HttpService,
    @Inject(callbackConfig.KEY) private readonly config: CallbackConfig,
  ) {
    const filter = { allowIPAddressList: allowlistedAddresses(config), keepAlive: true, maxSockets: 64 };
    this.httpAgent = new (withConnectTimeouts(RequestFilteringHttpAgent, config.connectTimeoutMs))(filter);
    this.httpsAgent = new (withConnectTimeouts(RequestFilteringHttpsAgent, config.connectTimeoutMs))(filter);
  }

  async post(url: URL, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<CallbackResponse> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const deadline = AbortSignal.timeout(Math.max(1, timeoutMs));
    try {
      const response = await firstValueFrom(
        this.http.post(url.toString(), body, {
          headers: { Authorization: `Bearer ${this.config.apiKey}`, 'Content-Type': 'application/json' },
          httpAgent: this.httpAgent,
          httpsAgent: this.httpsAgent,
          proxy: false,
          maxRedirects: 0,
          timeout: timeoutMs,
          signal: signal ? AbortSignal.any([deadline, signal]) : deadline,
          validateStatus: () => true,
          responseType: 'text',
          maxContentLength: 64 * 1024,
        }),
      );
      const outcome = classifyStatus(response.status);
      return {
        outcome,
        statusCode: response.status,
        durationMs: elapsed(),
        error: outcome === 'delivered' ? null : `callback answered ${response.status}`,
        retryAfterMs: parseRetryAfter(response.headers['retry-after']),
      };
    } catch (error) {
      const cause = error instanceof AxiosError && error.cause instanceof Error ? error.cause : error;
      const message = cause instanceof Error ? cause.message : String(cause);
      const refused = REFUSED_ADDRESS.test(message);
      const timedOut = deadline.aborted || (error instanceof AxiosError && error.code === 'ECONNABORTED');
      return {
        outcome: refused ? 'refused' : 'retryable',
        statusCode: null,
        durationMs: elapsed(),
        error: refused
          ? `refused at connect time: ${message}`
          : timedOut
            ? `no answer within ${timeoutMs} ms`
            : `network error: ${message}`,
        retryAfterMs: null,
      };
    }
  }

  onApplicationShutdown(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
