import { timingSafeEqual } from 'node:crypto';
import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { FastifyRequest } from 'fastify';
import { aiConfig, AiConfig } from '../config/configuration';

const equal = (a: string, b: string): boolean => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

/** Open when API_TOKENS is empty; otherwise only `Authorization: Bearer <listed token>` passes. */
@Injectable()
export class ApiTokenGuard implements CanActivate {
  constructor(@Inject(aiConfig.KEY) private readonly config: AiConfig) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.config.apiTokens.length === 0) return true;
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
    if (token && this.config.apiTokens.some((allowed) => equal(token, allowed))) return true;
    throw new UnauthorizedException('missing or invalid API token');
  }
}
