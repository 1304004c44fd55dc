import { Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { databaseConfig, DatabaseConfig } from '../config/configuration';
import { createDatabase, DatabaseHandles } from './database.factory';

/** All of DatabaseHandles, for the few that need more than one view (metrics reads the commit counters). */
export const DATABASE_HANDLES = Symbol('DATABASE_HANDLES');
export const DATABASE = Symbol('DATABASE');
/** The worker's view of the database: see DatabaseHandles.background. */
export const BACKGROUND_DATABASE = Symbol('BACKGROUND_DATABASE');
export const WRITE_BARRIER = Symbol('WRITE_BARRIER');
export const InjectDatabase = (): ParameterDecorator => Inject(DATABASE);
export const InjectBackgroundDatabase = (): ParameterDecorator => Inject(BACKGROUND_DATABASE);

@Global()
@Module({
  providers: [
    {
      provide: DATABASE_HANDLES,
      inject: [databaseConfig.KEY],
      useFactory: (config: DatabaseConfig) => createDatabase(config),
    },
    { provide: DATABASE, inject: [DATABASE_HANDLES], useFactory: (handles: DatabaseHandles) => handles.db },
    { provide: BACKGROUND_DATABASE, inject: [DATABASE_HANDLES], useFactory: (handles: DatabaseHandles) => handles.background },
    { provide: WRITE_BARRIER, inject: [DATABASE_HANDLES], useFactory: (handles: DatabaseHandles) => handles.barrier },
  ],
  exports: [DATABASE_HANDLES, DATABASE, BACKGROUND_DATABASE, WRITE_BARRIER],
})
export class DatabaseModule implements OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseModule.name);

  constructor(@Inject(DATABASE_HANDLES) private readonly handles: DatabaseHandles) {}

  // Runs after beforeApplicationShutdown, where the queue releases its jobs: the database closes last.
  async onApplicationShutdown(): Promise<void> {
    await this.handles.close();
    this.logger.log('database closed');
  }
}
