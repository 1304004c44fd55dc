import { Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { portError } from '../common/port-check';
import { sandboxConfig, SandboxConfig } from '../config/configuration';
import { ModelRiverSandbox } from './modelriver-sandbox';

/**
 * Runs the ModelRiver sandbox beside the app when MODELRIVER_SANDBOX=true (refused in production at boot).
 * The switch is read from validated configuration here, at bootstrap: @nestjs/config's ConditionalModule
 * would wait forever for a configuration that failed validation, and the process would exit 0 in silence.
 */
@Injectable()
export class SandboxService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('ModelRiverSandbox');
  readonly sandbox: ModelRiverSandbox;

  constructor(
    @Inject(sandboxConfig.KEY) private readonly config: SandboxConfig,
    adapterHost: HttpAdapterHost,
  ) {
    this.sandbox = new ModelRiverSandbox({
      port: config.port,
      host: '127.0.0.1',
      apiKey: config.apiKey,
      webhookSecret: config.webhookSecret,
      signatureScheme: config.signatureScheme,
      timeFactor: config.timeFactor,
      latencyMs: config.latencyMs,
      // The app's port is known only once it listens; webhooks go to its own endpoint.
      webhookUrl: () => {
        const server = adapterHost.httpAdapter.getHttpServer() as import('node:net').Server;
        const address = server.address() as { port: number } | null;
        return `http://127.0.0.1:${address?.port ?? 0}/webhooks/modelriver`;
      },
      log: (message) => this.logger.warn(message),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.enabled) return;
    await this.sandbox.start().catch((error: NodeJS.ErrnoException) => {
      throw portError('SANDBOX_PORT', this.config.port, '127.0.0.1', error);
    });
    this.logger.warn(`ModelRiver sandbox on ${this.sandbox.baseUrl} (development only; control API under /__sandbox)`);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.config.enabled) await this.sandbox.stop();
  }
}

@Module({ providers: [SandboxService], exports: [SandboxService] })
export class SandboxModule {}
