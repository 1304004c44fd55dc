import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { FastifyReply } from 'fastify';
import { map, Observable } from 'rxjs';
import { WebhookAnswer } from './webhook-ingest.service';

/** 202 for a quarantined delivery (stored, not processed), 200 otherwise. */
@Injectable()
export class WebhookAnswerInterceptor implements NestInterceptor<WebhookAnswer, WebhookAnswer> {
  intercept(context: ExecutionContext, next: CallHandler<WebhookAnswer>): Observable<WebhookAnswer> {
    return next.handle().pipe(
      map((answer) => {
        if ('quarantined' in answer) context.switchToHttp().getResponse<FastifyReply>().status(202);
        return answer;
      }),
    );
  }
}
