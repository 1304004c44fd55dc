import { Logger } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from './app.setup';
import { StartupError } from './common/errors';
import { LifecycleService } from './common/lifecycle.service';
import { assertPortFree } from './common/port-check';
import { appConfig, AppConfig, queueConfig, QueueConfig } from './config/configuration';
import { ConfigurationError } from './config/environment';

const logger = new Logger('Bootstrap');

/** What closing may take beyond the queue's grace time (sockets, upstream connections, the database). */
const CLOSE_MARGIN_MS = 10_000;

/**
 * Like enableShutdownHooks(), but a completed drain exits 0 (Nest re-raises the signal instead). app.close()
 * runs the same lifecycle hooks: the queue releases its jobs, then the database closes. A close that has not
 * ended within the grace time plus a margin exits 1 with a line saying so, rather than hanging until the
 * orchestrator's kill: what was not released is recovered at the next start (leases expire).
 */
function closeOnSignals(app: NestFastifyApplication): void {
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.log(`${signal} received: draining`);
    const limitMs = app.get<QueueConfig>(queueConfig.KEY).shutdownGraceMs + CLOSE_MARGIN_MS;
    setTimeout(() => {
      logger.error(`shutdown did not finish within ${limitMs} ms (QUEUE_SHUTDOWN_GRACE_MS + ${CLOSE_MARGIN_MS} ms): exiting`);
      process.exit(1);
    }, limitMs).unref();
    // Readiness goes down and intake answers 503 at once; then the queue drains and everything closes.
    app.get(LifecycleService).beginDrain();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(`shutdown failed: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

async function bootstrap(): Promise<void> {
  const app = await createApp();
  closeOnSignals(app);
  const { port, host } = app.get<AppConfig>(appConfig.KEY);
  await assertPortFree('PORT', port, host);
  await app.listen(port, host);
  logger.log(`listening on http://${host}:${port}`);
}

bootstrap().catch((error: unknown) => {
  // What the operator must fix is said in one line (per variable); anything else is a bug: its stack helps.
  const known = error instanceof ConfigurationError || error instanceof StartupError;
  console.error(known ? `Cannot start: ${error.message}` : error);
  process.exit(1);
});
