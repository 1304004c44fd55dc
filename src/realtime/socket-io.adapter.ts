import { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { Server, ServerOptions } from 'socket.io';

/** socket.io on the app's HTTP server, with the CORS origins from configuration (none: same origin only). */
export class ConfiguredIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly corsOrigins: string[],
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const cors = this.corsOrigins.length > 0 ? { origin: this.corsOrigins } : undefined;
    return super.createIOServer(port, { ...options, ...(cors ? { cors } : {}) }) as Server;
  }
}
