import { INestApplicationContext, Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import IORedis from 'ioredis';
import { Server, ServerOptions } from 'socket.io';

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
    return server;
  }

  override async close(server: Server): Promise<void> {
    await super.close(server);
    await Promise.all(this.clients.splice(0).map((client) => client.quit().catch(() => undefined)));
  }
}
