import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { SignatureScheme, SIGNATURE_SCHEMES } from '../config/signature-schemes';
import { signWebhook } from './webhook-signer';
import { PhoenixChannelServer } from './phoenix-channel.server';
import { generate, SANDBOX_WORKFLOWS, SandboxWorkflow, usage } from './sandbox-generator';

/** ModelRiver's webhook retry schedule (docs/protocol.md §3), in seconds after the first attempt. */
export const WEBHOOK_SCHEDULE_S = [0, 5, 30, 120, 600, 1800, 3600, 7200];
const WEBHOOK_TIMEOUT_MS = 30_000;
const CALLBACK_WINDOW_MS = 5 * 60_000;
const WS_TOKEN_TTL_MS = 5 * 60_000;
const PROJECT_ID = 'proj_sandbox';

export interface SandboxOptions {
  port: number;
  host: string;
  apiKey: string;
  webhookSecret: string;
  signatureScheme: SignatureScheme;
  /** Scales the retry schedule, webhook timeout and callback window (1 = real time). */
  timeFactor: number;
  /** Time the "model" takes before ai_generated. */
  latencyMs: number;
  /** Where webhooks go: the backend's own endpoint (resolved when sending, after it listens). */
  webhookUrl(): string;
  log(message: string): void;
}

/** Faults for the next /v1/ai/async request, set through the control API. */
export interface SandboxFaults {
  /** Fail this many webhook attempts as if the endpoint answered 500 (never sent). */
  webhook_fail_first?: number;
  /** Send this many attempts for real but treat them as failed (the answer was lost): real redeliveries. */
  webhook_lose_response?: number;
  /** After the accepted delivery, deliver the same webhook once more. */
  duplicate_delivery?: boolean;
  /** Answer the callback with 410, as when ModelRiver's 5-minute window has passed. */
  callback_window_expired?: boolean;
  signature_scheme?: SignatureScheme;
  /** Wrap the payload as `{channel_id, timestamp, data: payload}` (always so for ts_data). */
  envelope?: boolean;
  /** Answer the async request itself with this status (401, 403, 404, 429, 500, 502, 503) or hang. */
  async_status?: number | 'hang';
  /** The "model" returns output the processor cannot use (no title, no entities): processing fails for good. */
  unusable_output?: boolean;
}

interface Attempt {
  at: string;
  status: number | null;
  error?: string;
  injected?: boolean;
}

interface SandboxRequest {
  channelId: string;
  workflow: SandboxWorkflow;
  prompt: string;
  metadata: Record<string, unknown>;
  createdAt: number;
  /** ModelRiver's 5-minute callback window runs from the first webhook attempt. */
  callbackDeadline?: number;
  faults: SandboxFaults;
  aiData?: Record<string, unknown>;
  webhookAttempts: Attempt[];
  callbacks: { at: string; status: number; body: unknown }[];
  pushes: { at: string; event: string; status?: unknown }[];
  upstreamEvents: { at: string; event: string }[];
  state: 'generating' | 'delivering' | 'awaiting_callback' | 'completed' | 'failed' | 'dead_lettered';
  timers: NodeJS.Timeout[];
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const apiError = (res: ServerResponse, status: number, type: string, code: string, message: string, headers?: Record<string, string>) =>
  json(res, status, { error: { message, type, code } }, headers);

function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
      } catch {
        resolve(undefined);
      }
    });
    req.on('error', reject);
  });
}

/**
 * A local ModelRiver (docs/protocol.md §2–§5) for development and tests: the async API (both path prefixes),
 * a Phoenix Channels WebSocket, signed webhooks on the real retry schedule with a dead-letter list, the
 * callback endpoint with its window, and a control API under /__sandbox to inject faults and read what happened.
 */
export class ModelRiverSandbox {
  private server?: Server;
  private readonly requests = new Map<string, SandboxRequest>();
  private readonly tokens = new Map<string, { channelId: string; expiresAt: number; used: boolean }>();
  private readonly deadLetters: { channel_id: string; at: string; attempts: number }[] = [];
  private nextFaults: SandboxFaults = {};
  private readonly phoenix: PhoenixChannelServer;

  constructor(private readonly options: SandboxOptions) {
    this.phoenix = new PhoenixChannelServer({
      idleTimeoutMs: 60_000,
      authorize: (token) => this.consumeToken(token),
      joinError: (topic, granted) => {
        const match = /^ai_response:(?:([^:]+):)?([^:]+)$/.exec(topic);
        if (!match) return 'invalid_channel_format';
        if ((match[1] !== undefined && match[1] !== PROJECT_ID) || match[2] !== granted) return 'unauthorized_project_access';
        return undefined;
      },
      onEvent: (channelId, event) => this.requests.get(channelId)?.upstreamEvents.push({ at: new Date().toISOString(), event }),
    });
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get port(): number {
    return (this.server?.address() as { port: number } | null)?.port ?? this.options.port;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => json(res, 500, { error: { message: String(error), type: 'server_error', code: 'internal' } }));
    });
    this.server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://sandbox').pathname === '/socket/websocket') this.phoenix.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, this.options.host, resolve);
    });
  }

  async stop(): Promise<void> {
    for (const request of this.requests.values()) request.timers.forEach(clearTimeout);
    this.phoenix.close();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private scaled(ms: number): number {
    return Math.round(ms * this.options.timeFactor);
  }

  private later(request: SandboxRequest, ms: number, run: () => Promise<void> | void): void {
    const timer = setTimeout(() => void Promise.resolve(run()).catch((e: unknown) => this.options.log(`sandbox task failed: ${String(e)}`)), ms);
    request.timers.push(timer);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname.replace(/^\/api(?=\/v1\/)/, ''); // both /v1/... and /api/v1/... are served
    const method = req.method ?? 'GET';
    if (method === 'POST' && path === '/v1/ai/async') return this.startRequest(req, res);
    if (method === 'POST' && path === '/v1/ai/reconnect') return this.reconnect(req, res);
    const callback = /^\/v1\/callback\/([^/]+)$/.exec(path);
    if (method === 'POST' && callback) return this.receiveCallback(req, res, decodeURIComponent(callback[1]));
    if (path.startsWith('/__sandbox/')) return this.control(method, path.slice('/__sandbox'.length), req, res);
    json(res, 404, { error: { message: 'not found', type: 'invalid_request_error', code: 'not_found' } });
  }

  private authorized(req: IncomingMessage): boolean {
    const given = Buffer.from(req.headers.authorization ?? '');
    const expected = Buffer.from(`Bearer ${this.options.apiKey}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private issueToken(channelId: string) {
    const token = `wst_${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, { channelId, expiresAt: Date.now() + WS_TOKEN_TTL_MS, used: false });
    return {
      channel_id: channelId,
      ws_token: token,
      websocket_url: `ws://127.0.0.1:${this.port}/socket`,
      websocket_channel: `ai_response:${PROJECT_ID}:${channelId}`,
      project_id: PROJECT_ID,
    };
  }

  private consumeToken(token: string | null): string | undefined {
    const grant = token ? this.tokens.get(token) : undefined;
    if (!grant || grant.used || grant.expiresAt < Date.now()) return undefined;
    grant.used = true; // single use
    return grant.channelId;
  }

  private async startRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const faults = this.nextFaults;
    this.nextFaults = {};
    if (faults.async_status === 'hang') return; // the caller's timeout must fire
    if (!this.authorized(req)) return apiError(res, 401, 'authentication_error', 'invalid_api_key', 'Invalid API key');
    switch (faults.async_status) {
      case 401:
        return apiError(res, 401, 'authentication_error', 'invalid_api_key', 'Invalid API key');
      case 403:
        return apiError(res, 403, 'permission_error', 'forbidden', 'This key cannot use this workflow');
      case 404:
        return apiError(res, 404, 'invalid_request_error', 'model_not_found', 'Workflow not found');
      case 429:
        return apiError(res, 429, 'rate_limit_error', 'rate_limit_exceeded', 'Rate limit exceeded', { 'retry-after': '7' });
      case 500:
      case 502:
        return apiError(res, 502, 'api_error', 'upstream_error', 'Upstream provider error');
      case 503:
        return apiError(res, 503, 'api_error', 'service_unavailable', 'Service unavailable');
    }
    const body = (await readBody(req)) as Record<string, unknown> | undefined;
    const messages = body?.messages;
    if (!body || typeof body.workflow !== 'string' || !Array.isArray(messages) || messages.length === 0) {
      return apiError(res, 400, 'invalid_request_error', 'invalid_request', 'workflow (string) and messages (non-empty array) are required');
    }
    const workflow = SANDBOX_WORKFLOWS.find((w) => w.name === body.workflow);
    if (!workflow) return apiError(res, 404, 'invalid_request_error', 'model_not_found', `Workflow ${body.workflow} not found`);
    const prompt = messages
      .map((m) => (typeof m === 'object' && m !== null && typeof (m as { content?: unknown }).content === 'string' ? (m as { content: string }).content : ''))
      .join('\n');
    const metadata = typeof body.metadata === 'object' && body.metadata !== null ? (body.metadata as Record<string, unknown>) : {};
    const channelId = randomUUID();
    const request: SandboxRequest = {
      channelId,
      workflow,
      prompt,
      metadata,
      createdAt: Date.now(),
      faults,
      webhookAttempts: [],
      callbacks: [],
      pushes: [],
      upstreamEvents: [],
      state: 'generating',
      timers: [],
    };
    this.requests.set(channelId, request);
    json(res, 200, { message: 'success', status: 'pending', ...this.issueToken(channelId), customer_data: metadata, test_mode: true });
    this.later(request, this.options.latencyMs, () => this.generated(request));
  }

  private async reconnect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorized(req)) return apiError(res, 401, 'authentication_error', 'invalid_api_key', 'Invalid API key');
    const body = (await readBody(req)) as { channel_id?: unknown } | undefined;
    const request = typeof body?.channel_id === 'string' ? this.requests.get(body.channel_id) : undefined;
    if (!request) return apiError(res, 404, 'invalid_request_error', 'not_found', 'Unknown channel');
    if (['completed', 'failed', 'dead_lettered'].includes(request.state)) {
      return apiError(res, 410, 'invalid_request_error', 'request_finished', 'The request has finished');
    }
    json(res, 200, this.issueToken(request.channelId));
  }

  private push(request: SandboxRequest, payload: Record<string, unknown>): void {
    this.phoenix.push(request.channelId, 'response', payload);
    request.pushes.push({ at: new Date().toISOString(), event: 'response', status: payload.status });
  }

  private finish(request: SandboxRequest, state: 'completed' | 'failed', payload: Record<string, unknown>): void {
    request.state = state;
    this.push(request, payload);
    this.phoenix.closeChannel(request.channelId);
  }

  private generated(request: SandboxRequest): Promise<void> {
    request.aiData = request.faults.unusable_output ? { note: 'the model returned nothing usable' } : generate(request.workflow, request.prompt);
    const meta = { provider: 'sandbox', model: 'sandbox-1', duration_ms: this.options.latencyMs, usage: usage(request.prompt) };
    const timestamp = new Date().toISOString();
    if (request.workflow.event) {
      this.push(request, { status: 'ai_generated', channel_id: request.channelId, event_name: request.workflow.event, meta });
      request.state = 'delivering';
      return this.deliver(request, {
        type: 'task.ai_generated',
        event: request.workflow.event,
        channel_id: request.channelId,
        ai_response: { data: request.aiData, meta },
        callback_url: `${this.baseUrl}/v1/callback/${request.channelId}`,
        callback_required: true,
        customer_data: request.metadata,
        meta: { workflow: request.workflow.name },
        timestamp,
      });
    }
    request.state = 'delivering';
    const payload = {
      type: 'task.completed',
      workflow: request.workflow.name,
      status: 'success',
      channel_id: request.channelId,
      data: request.aiData,
      meta: { ...meta, attempts: [{ provider: 'sandbox', status: 'success' }] },
      customer_data: request.metadata,
      timestamp,
    };
    this.finish(request, 'completed', { status: 'success', channel_id: request.channelId, data: request.aiData, meta, customer_data: request.metadata });
    return this.deliver(request, payload);
  }

  /** Delivers one webhook on the real schedule (scaled); any non-2xx, timeout or error is retried. */
  private async deliver(request: SandboxRequest, payload: Record<string, unknown>): Promise<void> {
    const scheme = request.faults.signature_scheme ?? this.options.signatureScheme;
    const wrapped = scheme === 'ts_data' || request.faults.envelope ? { channel_id: request.channelId, timestamp: payload.timestamp, data: payload } : payload;
    // Under `json` the signature covers JSON.stringify(parsed body), not the bytes: send other bytes (as a
    // sender with its own serializer would), so only that scheme can verify them.
    const body = scheme === 'json' ? JSON.stringify(wrapped, null, 2) : JSON.stringify(wrapped);
    // The docs list mr-signature, mr-timestamp and mr-channel-id on every webhook; timestamped schemes sign the
    // same timestamp (and send it under their own header family too).
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers = {
      'content-type': 'application/json',
      'mr-channel-id': request.channelId,
      'mr-timestamp': timestamp,
      'x-modelriver-webhook-id': `wh_${request.channelId}`,
      ...signWebhook(body, this.options.webhookSecret, scheme, timestamp),
    };
    // Scaled, but never below 5 s: the callback_window_expired fault tests expiry explicitly.
    request.callbackDeadline = Date.now() + Math.max(5000, this.scaled(CALLBACK_WINDOW_MS));
    const attemptAt = async (index: number): Promise<void> => {
      const at = new Date().toISOString();
      const faults = request.faults;
      let delivered = false;
      if ((faults.webhook_fail_first ?? 0) > 0) {
        faults.webhook_fail_first!--;
        request.webhookAttempts.push({ at, status: 500, injected: true });
      } else {
        try {
          const response = await fetch(this.options.webhookUrl(), {
            method: 'POST',
            headers,
            body,
            signal: AbortSignal.timeout(Math.max(1000, this.scaled(WEBHOOK_TIMEOUT_MS))),
          });
          await response.arrayBuffer();
          const lost = (faults.webhook_lose_response ?? 0) > 0;
          if (lost) faults.webhook_lose_response!--;
          request.webhookAttempts.push({ at, status: response.status, ...(lost ? { error: 'answer lost (injected)' } : {}) });
          delivered = response.ok && !lost;
        } catch (error) {
          request.webhookAttempts.push({ at, status: null, error: error instanceof Error ? error.message : String(error) });
        }
      }
      if (delivered) {
        if (request.state === 'delivering') request.state = request.workflow.event ? 'awaiting_callback' : request.state;
        if (faults.duplicate_delivery) {
          faults.duplicate_delivery = false;
          await attemptAt(index); // ModelRiver sends duplicates: the same delivery once more
        }
        return;
      }
      const next = index + 1;
      if (next >= WEBHOOK_SCHEDULE_S.length) {
        request.state = 'dead_lettered';
        this.deadLetters.push({ channel_id: request.channelId, at: new Date().toISOString(), attempts: request.webhookAttempts.length });
        this.options.log(`sandbox: webhook for ${request.channelId} dead-lettered after ${request.webhookAttempts.length} attempts`);
        return;
      }
      const wait = this.scaled((WEBHOOK_SCHEDULE_S[next] - WEBHOOK_SCHEDULE_S[index]) * 1000);
      this.later(request, wait, () => attemptAt(next));
    };
    await attemptAt(0);
  }

  private async receiveCallback(req: IncomingMessage, res: ServerResponse, channelId: string): Promise<void> {
    if (!this.authorized(req)) return apiError(res, 401, 'authentication_error', 'invalid_api_key', 'Invalid API key');
    const request = this.requests.get(channelId);
    if (!request) return apiError(res, 404, 'invalid_request_error', 'not_found', 'Unknown channel');
    const body = await readBody(req);
    const record = (status: number) => request.callbacks.push({ at: new Date().toISOString(), status, body });
    if (request.state === 'completed' || request.state === 'failed') {
      record(409);
      return apiError(res, 409, 'invalid_request_error', 'already_completed', 'This request is already completed');
    }
    if (request.faults.callback_window_expired || Date.now() > (request.callbackDeadline ?? Infinity)) {
      record(410);
      request.state = 'failed';
      return apiError(res, 410, 'invalid_request_error', 'callback_window_expired', 'The callback window has expired');
    }
    const callback = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const isError = typeof callback.error === 'string';
    const dataOk = typeof callback.data === 'object' && callback.data !== null && !Array.isArray(callback.data);
    if (!isError && !dataOk) {
      record(400);
      return apiError(res, 400, 'invalid_request_error', 'invalid_callback', 'data must be an object (or send {error, message})');
    }
    record(200);
    json(res, 200, { status: 'ok', channel_id: channelId });
    if (isError) {
      // The official SDK reads `payload.error?.message` (`error?: {message, details?}`).
      const message = typeof callback.message === 'string' && callback.message ? callback.message : 'processing failed';
      this.finish(request, 'failed', { status: 'error', channel_id: channelId, error: { message, details: { code: callback.error } } });
    } else {
      this.finish(request, 'completed', {
        status: 'completed',
        channel_id: channelId,
        data: callback.data,
        task_id: callback.task_id,
        callback_metadata: callback.metadata ?? {},
        customer_data: request.metadata,
      });
    }
  }

  private async control(method: string, path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (method === 'POST' && path === '/faults') {
      const faults = ((await readBody(req)) ?? {}) as SandboxFaults;
      if (faults.signature_scheme && !SIGNATURE_SCHEMES.includes(faults.signature_scheme)) {
        return json(res, 400, { error: `signature_scheme must be one of ${SIGNATURE_SCHEMES.join(', ')}` });
      }
      this.nextFaults = faults;
      return json(res, 200, { next_request_faults: faults });
    }
    if (method === 'POST' && path === '/tokens/expire') {
      for (const grant of this.tokens.values()) grant.expiresAt = 0;
      return json(res, 200, { expired: this.tokens.size });
    }
    if (method === 'GET' && path === '/dead-letters') return json(res, 200, this.deadLetters);
    if (method === 'GET' && path === '/stats') return json(res, 200, { requests: this.requests.size, dead_letters: this.deadLetters.length });
    const match = /^\/requests\/([^/]+)$/.exec(path);
    if (method === 'GET' && match) {
      const request = this.requests.get(decodeURIComponent(match[1]));
      if (!request) return json(res, 404, { error: 'unknown channel' });
      return json(res, 200, {
        channel_id: request.channelId,
        workflow: request.workflow.name,
        created_at: new Date(request.createdAt).toISOString(),
        state: request.state,
        ai_data: request.aiData,
        webhook_attempts: request.webhookAttempts,
        callbacks: request.callbacks,
        pushes: request.pushes,
        upstream_events: request.upstreamEvents,
        joined_sockets: this.phoenix.joinedSockets(request.channelId),
      });
    }
    json(res, 404, { error: 'unknown control route' });
  }
}
