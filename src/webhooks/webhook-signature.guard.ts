import { CanActivate, ExecutionContext, Inject, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { FastifyRequest } from 'fastify';
import { webhookConfig, WebhookConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { SignatureScheme } from '../config/signature-schemes';
import { verifyWebhookSignature } from './webhook-signature.verifier';

export interface SignatureMatch {
  scheme: SignatureScheme;
  /** Position of the secret that matched in MODELRIVER_WEBHOOK_SECRET (never the secret itself). */
  secretIndex: number;
}

export type WebhookRequest = FastifyRequest & { rawBody?: Buffer; webhookSignature?: SignatureMatch };

const REASONS = {
  missing: 'missing webhook signature',
  malformed: 'malformed webhook signature',
  mismatch: 'webhook signature does not match',
  stale: 'webhook timestamp is outside WEBHOOK_TIMESTAMP_TOLERANCE_S',
} as const;

/** Lets a request through only if its raw bytes carry a valid ModelRiver signature. */
@Injectable()
export class WebhookSignatureGuard implements CanActivate {
  private readonly logger = new Logger(WebhookSignatureGuard.name);

  constructor(
    @Inject(webhookConfig.KEY) private readonly config: WebhookConfig,
    private readonly metrics: MetricsService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<WebhookRequest>();
    const result = verifyWebhookSignature({
      rawBody: request.rawBody ?? Buffer.alloc(0),
      headers: request.headers,
      secrets: this.config.secrets,
      schemes: this.config.schemes,
      toleranceSeconds: this.config.timestampToleranceS,
    });
    if (!result.ok) {
      this.logger.warn(`rejected webhook (request ${String(request.id)}): ${REASONS[result.reason]}`);
      this.metrics.rejected('signature');
      throw new UnauthorizedException(REASONS[result.reason]);
    }
    request.webhookSignature = { scheme: result.scheme, secretIndex: result.secretIndex };
    return true;
  }
}
