import { Injectable } from '@nestjs/common';

/** Shutdown has begun: readiness reports down and webhook intake answers 503 (ModelRiver retries elsewhere). */
@Injectable()
export class LifecycleService {
  private drainingSince?: number;

  beginDrain(): void {
    this.drainingSince ??= Date.now();
  }

  get draining(): boolean {
    return this.drainingSince !== undefined;
  }
}
