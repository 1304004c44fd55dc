import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseEnv } from 'node:util';
import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { CONFIG_NAMESPACES } from './configuration';
import { EnvironmentVariables, validateEnvironment } from './environment';

export interface AppConfigOptions {
  /** Path of the dotenv file to merge under the real environment, or false to read none (tests). */
  envFile?: string | false;
}

const readEnvFile = (file: string): Record<string, string> => (existsSync(file) ? (parseEnv(readFileSync(file, 'utf8')) as Record<string, string>) : {});

/**
 * The dotenv files to merge under the real environment, first one winning: `.env` (settings, never secrets, so
 * docker compose, which reads it for `${…}`, finds no development secret there), then, only while NODE_ENV is
 * development, `.env.development` beside it: the committed development-only secrets that make `npm start` work
 * with no setup (production refuses them: they carry the dev-only marker).
 */
export function envFiles(envFile: string | false = '.env'): string[] {
  if (envFile === false) return [];
  const nodeEnv = process.env.NODE_ENV || readEnvFile(envFile).NODE_ENV || 'development';
  return nodeEnv === 'development' ? [envFile, join(dirname(envFile), '.env.development')] : [envFile];
}

/**
 * The configuration the app will run with, validated, before anything starts: main.ts prints a
 * ConfigurationError as it is (one line per variable) and exits, and the HTTP adapter needs TRUST_PROXY at birth.
 */
export function resolveEnvironment({ envFile }: AppConfigOptions = {}): EnvironmentVariables {
  return validateEnvironment(rawEnvironment(envFile));
}

/** The real environment over the dotenv files, not yet validated. */
function rawEnvironment(envFile?: string | false): Record<string, string | undefined> {
  const fromFiles = Object.assign({}, ...envFiles(envFile).reverse().map(readEnvFile)) as Record<string, string>;
  return { ...fromFiles, ...process.env };
}

/**
 * One setting as the app would see it (environment first, then the dotenv files), without validating the rest:
 * for command-line tools (backup, restore) that need only that one and must run without the service's secrets.
 */
export function readSetting(name: keyof EnvironmentVariables, { envFile }: AppConfigOptions = {}): string | undefined {
  return rawEnvironment(envFile)[name] || undefined;
}

@Module({})
export class AppConfigModule {
  static forRoot({ envFile = '.env' }: AppConfigOptions = {}): Promise<DynamicModule> {
    const files = envFiles(envFile);
    return ConfigModule.forRoot({
      isGlobal: true,
      cache: false,
      ignoreEnvFile: files.length === 0,
      envFilePath: files,
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
