import { Logger, LoggerService } from '@nestjs/common';

/**
 * Harnesses that run Nest pieces in the jest process (unit specs, the queue contract) would log through Nest's
 * colourful console logger, failure paths included, while every test passes. The apps tests boot log through
 * pino at LOG_LEVEL instead (see BASE_TEST_ENV). TEST_LOG_LEVEL=debug shows everything.
 */
export const quiet = !process.env.TEST_LOG_LEVEL;

const silent: LoggerService = { log: () => undefined, error: () => undefined, warn: () => undefined, debug: () => undefined, verbose: () => undefined };

/** For Test.createTestingModule(...).setLogger(...): Nest's testing logger would print every error. */
export const harnessLogger = (): LoggerService => (quiet ? silent : new Logger());

if (quiet) Logger.overrideLogger(false);
