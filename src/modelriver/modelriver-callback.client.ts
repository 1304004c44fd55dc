import { Agent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Socket, TcpNetConnectOpts } from 'node:net';
import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { callbackConfig, CallbackConfig } from '../config/configuration';
import { CallbackOutcome } from '../database/database.types';
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

/** The answer's body is never used: read at most this much of it so the connection can be reused. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The exchange took longer than its deadline. */
class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/**
 * A kept-alive connection the server closed under our request: written to a reused socket, reset before any
 * answer. Servers close idle connections on their own schedule, and most do not announce it in a `Keep-Alive`
 * header, so their close can cross our next request; the request was then never read, and sending it again on a
 * fresh connection at once is what a browser does. (Had the server read it and then died, ModelRiver sees the
 * callback twice: the same `task_id`, within our at-least-once promise.)
 */
class StaleConnectionError extends Error {
  override name = 'StaleConnectionError';
}

type PostOptions = { agent: Agent; authorization: string; deadlineMs: number; signal?: AbortSignal };
type Answer = { status: number; retryAfter: string | undefined };

/**
 * One POST of `body` as JSON over node:http (the hot path: no client library in between). Never follows
 * redirects: a 3xx is just a status. Settles with the status once the answer has been read (or abandoned past the
 * size cap); rejects on network errors, past `deadlineMs`, and when `signal` aborts before the status line arrived.
 * A request that met a stale kept-alive connection is sent once more, within the same deadline.
 */
async function postJson(url: URL, body: unknown, options: PostOptions): Promise<Answer> {
  const deadline = performance.now() + options.deadlineMs;
  try {
    return await exchange(url, body, options);
  } catch (error) {
    const left = Math.floor(deadline - performance.now());
    if (!(error instanceof StaleConnectionError) || left < 1 || options.signal?.aborted) throw error;
    return exchange(url, body, { ...options, deadlineMs: left });
  }
}

/**
 * One request and its answer. One timer and one listener per request (AbortSignal.timeout and AbortSignal.any cost
 * more). The serialized body is held by nothing here once written: a callback waits a round trip to ModelRiver for
 * its answer, long enough for whatever it holds to be moved to the old generation and collected there (a full
 * collection's work, not a scavenge's), and the body was about 30 % of what a callback left there (bench/HISTORY.md).
 * The rare second attempt serializes it again.
 */
function exchange(url: URL, body: unknown, options: PostOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // A local of this function that no closure below uses, so none of them keeps it alive.
    const payload = JSON.stringify(body);
    let answered = false;
    const request = send(
      url,
      {
        method: 'POST',
        agent: options.agent,
        headers: {
          authorization: options.authorization,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (response) => {
        answered = true;
        const answer = { status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] };
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) response.destroy();
        });
        // 'close' follows 'end', a destroy and an abort alike: the status is known either way.
        response.on('close', () => finish(() => resolve(answer)));
        response.on('error', () => undefined);
      },
    );
    const abort = () => request.destroy(new Error('aborted'));
    const timer = setTimeout(() => request.destroy(new DeadlineError(`no answer within ${options.deadlineMs} ms`)), options.deadlineMs);
    options.signal?.addEventListener('abort', abort, { once: true });
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
      settle();
    };
    request.on('error', (error: NodeJS.ErrnoException) => {
      const stale = request.reusedSocket && !answered && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      finish(() => reject(stale ? new StaleConnectionError(`kept-alive connection closed by the server: ${error.message}`) : error));
    });
    if (options.signal?.aborted) abort();
    request.end(payload);
  });
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
    @Inject(callbackConfig.KEY) private readonly config: CallbackConfig,
  ) {
    const filter = { allowIPAddressList: allowlistedAddresses(config), keepAlive: true, maxSockets: 64 };
    this.httpAgent = new (withConnectTimeouts(RequestFilteringHttpAgent, config.connectTimeoutMs))(filter);
    this.httpsAgent = new (withConnectTimeouts(RequestFilteringHttpsAgent, config.connectTimeoutMs))(filter);
  }

  async post(url: URL, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<CallbackResponse> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const response = await postJson(url, body, {
        agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
        authorization: `Bearer ${this.config.apiKey}`,
        deadlineMs: Math.max(1, timeoutMs),
        signal,
      });
      const outcome = classifyStatus(response.status);
      return {
        outcome,
        statusCode: response.status,
        durationMs: elapsed(),
        error: outcome === 'delivered' ? null : `callback answered ${response.status}`,
        retryAfterMs: parseRetryAfter(response.retryAfter),
      };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const refused = REFUSED_ADDRESS.test(message);
      return {
        outcome: refused ? 'refused' : 'retryable',
        statusCode: null,
        durationMs: elapsed(),
        error: refused ? `refused at connect time: ${message}` : error instanceof DeadlineError ? message : `network error: ${message}`,
        retryAfterMs: null,
      };
    }
  }

  onApplicationShutdown(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
