import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { CONFIG_NAMESPACES } from './configuration';
import { validateEnvironment } from './environment';

export interface AppConfigOptions {
  /** Path of the dotenv file to merge under the real environment, or false to read none (tests). */
  envFile?: string | false;
}

@Module({})
export class AppConfigModule {
  static forRoot({ envFile = '.env' }: AppConfigOptions = {}): Promise<DynamicModule> {
    return ConfigModule.forRoot({
      isGlobal: true,
      cache: false,
      ignoreEnvFile: envFile === false,
      envFilePath: envFile === false ? undefined : envFile,
      load: CONFIG_NAMESPACES,
      // Validate the merged strings and hand them back unchanged, so ConfigModule copies the .env values
      // into process.env for the typed namespaces (real environment variables are never overwritten).
      validate: (raw) => {
        validateEnvironment(raw);
        return raw;
      },
    });
  }
}
