import { INestApplicationContext, Logger } from '@nestjs/common';
import { MessageMappingProperties } from '@nestjs/websockets';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import IORedis from 'ioredis';
import { filter, Observable } from 'rxjs';
import { Server, ServerOptions, Socket } from 'socket.io';

/**
 * socket.io on the app's HTTP server, with CORS origins from configuration (none: same origin only). With
 * REDIS_URL, the Redis adapter makes a room span every instance; connect it before useWebSocketAdapter.
 */
export class ConfiguredIoAdapter extends IoAdapter {
  private readonly logger = new Logger(ConfiguredIoAdapter.name);
  private redisAdapter?: ReturnType<typeof createAdapter>;
  private clients: IORedis[] = [];

  constructor(
    app: INestApplicationContext,
    private readonly corsOrigins: string[],
  ) {
    super(app);
  }

  async connectToRedis(url: string): Promise<void> {
    const pub = new IORedis(url, { maxRetriesPerRequest: null });
    const sub = pub.duplicate();
    for (const client of [pub, sub]) client.on('error', (error: Error) => this.logger.warn(`socket.io redis: ${error.message}`));
    await Promise.all([pub, sub].map((client) => new Promise((resolve, reject) => client.once('ready', resolve).once('error', reject))));
    this.clients = [pub, sub];
    // Requests between instances (a subscribe's watch announcement, counting a room's sockets) wait this long at most.
    this.redisAdapter = createAdapter(pub, sub, { requestsTimeout: 2000 });
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const cors = this.corsOrigins.length > 0 ? { origin: this.corsOrigins } : undefined;
    const server = super.createIOServer(port, { ...options, ...(cors ? { cors } : {}) }) as Server;
    if (this.redisAdapter) server.adapter(this.redisAdapter);
    // engine.io keeps each connection's first HTTP request (headers, socket, parser state) for as long as the
    // connection lives, for middleware such as express-session; nothing here reads it after the handshake
    // (socket.handshake keeps its own copy of headers and address). ~4 KiB per browser.
    server.engine.on('connection', (raw: { request: unknown }) => {
      raw.request = null;
    });
    return server;
  }

  /**
   * The same contract as Nest's (each message runs its handler; a non-empty result with `event` is emitted, any
   * other goes to the acknowledgement), without Nest's per-connection rxjs pipeline (an observable chain per
   * handler and per socket, ~8 KiB each connection holds for its lifetime): a plain listener per handler, and an
   * observable only while a message is handled. After a disconnect socket.io drops emits and acks by itself.
   */
  override bindMessageHandlers(socket: Socket, handlers: MessageMappingProperties[], transform: (data: unknown) => Observable<unknown>): void {
    for (const { message, callback, isAckHandledManually } of handlers) {
      socket.on(String(message), (...args: unknown[]) => {
        const payload = this.mapPayload(args.length > 1 ? args : args[0]) as { data: unknown; ack?: unknown };
        const { data, ack } = payload;
        transform(callback(data, ack))
          .pipe(filter((response) => response !== null && response !== undefined))
          .subscribe((response) => {
            const reply = response as { event?: string; data?: unknown };
            if (reply.event) socket.emit(reply.event, reply.data);
            else if (!isAckHandledManually && typeof ack === 'function') (ack as (value: unknown) => void)(response);
          });
      });
    }
  }

  override async close(server: Server): Promise<void> {
    await super.close(server);
    await Promise.all(this.clients.splice(0).map((client) => client.quit().catch(() => undefined)));
  }
}
