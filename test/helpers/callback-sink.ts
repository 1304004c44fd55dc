import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

export interface SinkRequest {
  method: string;
  path: string;
  channelId: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  receivedAt: number;
}

/** How the sink answers one request: a status (with headers), a redirect, or never. */
export type SinkReply = number | { status: number; headers?: Record<string, string> } | 'hang';

/**
 * A local stand-in for ModelRiver's callback endpoint (`/v1/callback/:channel_id`) on 127.0.0.1. Replies
 * are scripted per channel and consumed in order; afterwards it answers `reply` (200 unless told otherwise).
 */
export class CallbackSink {
  readonly requests: SinkRequest[] = [];
  private readonly scripts = new Map<string, SinkReply[]>();
  private readonly sockets = new Set<Socket>();
  private server?: Server;
  url = '';

  /** `delayMs`: every answer waits this long (a slow ModelRiver). `reply`: the answer when no script says otherwise. */
  constructor(private readonly options: { delayMs?: number; reply?: SinkReply } = {}) {}

  async start(host = '127.0.0.1'): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, host, resolve));
    const { port } = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  get port(): number {
    return (this.server!.address() as { port: number }).port;
  }

  callbackUrl(channelId: string): string {
    return `${this.url}/v1/callback/${channelId}`;
  }

  script(channelId: string, ...replies: SinkReply[]): void {
    this.scripts.set(channelId, replies);
  }

  for(channelId: string): SinkRequest[] {
    return this.requests.filter((request) => request.channelId === channelId);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '';
      const channelId = decodeURIComponent(path.split('/').pop() ?? '');
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        body = { unparsable: true };
      }
      this.requests.push({ method: req.method ?? '', path, channelId, headers: req.headers, body, receivedAt: Date.now() });
      const reply = this.scripts.get(channelId)?.shift() ?? this.options.reply ?? 200;
      if (reply === 'hang') return;
      const { status, headers } = typeof reply === 'number' ? { status: reply, headers: {} } : reply;
      const answer = () => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify({ ok: status < 300 }));
      };
      if (this.options.delayMs) setTimeout(answer, this.options.delayMs);
      else answer();
    });
  }
}
