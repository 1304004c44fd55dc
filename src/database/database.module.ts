import { Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { databaseConfig, DatabaseConfig } from '../config/configuration';
import { createDatabase } from './database.factory';
import { Db } from './database.types';

export const DATABASE = Symbol('DATABASE');
export const InjectDatabase = (): ParameterDecorator => Inject(DATABASE);

@Global()
@Module({
  providers: [
    {
      provide: DATABASE,
      inject: [databaseConfig.KEY],
      useFactory: (config: DatabaseConfig) => createDatabase(config),
    },
  ],
  exports: [DATABASE],
})
export class DatabaseModule implements OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseModule.name);

  constructor(@InjectDatabase() private readonly db: Db) {}

  // Runs after beforeApplicationShutdown, where the queue releases its jobs: the database closes last.
  async onApplicationShutdown(): Promise<void> {
    await this.db.destroy();
    this.logger.log('database closed');
  }
}
