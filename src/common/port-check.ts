import { createServer } from 'node:net';
import { StartupError } from './errors';

/**
 * Fails with one clear line when `port` cannot be listened on, naming the variable that sets it. Checked just
 * before listening, so the operator reads which setting to change instead of a raw EADDRINUSE and its stack.
 */
export async function assertPortFree(variable: string, port: number, host: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(portError(variable, port, host, error)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** The StartupError for a failed listen (EADDRINUSE, EACCES, EADDRNOTAVAIL), or the error itself. */
export function portError(variable: string, port: number, host: string, error: NodeJS.ErrnoException): Error {
  switch (error.code) {
    case 'EADDRINUSE':
      return new StartupError(`${variable}=${port} is already in use on ${host}: stop what listens there, or set ${variable} to a free port`);
    case 'EACCES':
      return new StartupError(`${variable}=${port} needs privileges on ${host}: use a port above 1023`);
    case 'EADDRNOTAVAIL':
      return new StartupError(`cannot listen on ${host}:${port}: the address is not on this machine (check HOST)`);
    default:
      return error;
  }
}
