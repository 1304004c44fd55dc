import { timingSafeEqual } from 'node:crypto';
import { CanActivate, ExecutionContext, Inject, Injectable, NotFoundException, UnauthorizedException } from '@nestjs/common';
import { FastifyRequest } from 'fastify';
import { appConfig, AppConfig } from '../config/configuration';

/** Without ADMIN_TOKEN the admin surface does not exist (404); with it, only its bearer passes (401 otherwise). */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(@Inject(appConfig.KEY) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const token = this.config.adminToken;
    if (!token) throw new NotFoundException();
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '');
    const expected = Buffer.from(token);
    if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
    throw new UnauthorizedException('missing or invalid admin token');
  }
}

/** The dashboard page exists only with ADMIN_TOKEN set; the page itself asks for the token. */
@Injectable()
export class AdminEnabledGuard implements CanActivate {
  constructor(@Inject(appConfig.KEY) private readonly config: AppConfig) {}

  canActivate(): boolean {
    if (!this.config.adminToken) throw new NotFoundException();
    return true;
  }
}
