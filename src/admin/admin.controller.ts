import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiExcludeEndpoint, ApiResponse, ApiTags } from '@nestjs/swagger';
import { FastifyRequest } from 'fastify';
import { AdminEnabledGuard, AdminTokenGuard } from './admin-token.guard';
import { AdminService } from './admin.service';
import { ListDeliveriesQuery } from './dto/list-deliveries.dto';

const PUBLIC = join(__dirname, '..', '..', 'public');

@ApiTags('admin')
@ApiBearerAuth()
@ApiResponse({ status: 401, description: 'missing or wrong admin token' })
@ApiResponse({ status: 404, description: 'ADMIN_TOKEN is not set (the admin surface is off), or no such delivery' })
@Controller('admin')
@UseGuards(AdminTokenGuard)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('deliveries')
  @ApiResponse({ status: 200, description: '{items, next_cursor}, newest first; a page filtered on type or event reads at most 10,000 deliveries and may hold fewer than limit items with a next_cursor; an item still on its way has failed_callback_attempts' })
  @ApiResponse({ status: 400, description: 'bad filter or cursor' })
  list(@Query() query: ListDeliveriesQuery) {
    return this.admin.list(query);
  }

  @Get('deliveries/stats')
  @ApiResponse({ status: 200, description: '{by_status: {status: count}, completed_counted_at (a count of over 20,000 completed deliveries is taken at most once a minute), oldest_kept_at, oldest_by_status (every status but completed), retention: {completed, failed}}' })
  stats() {
    return this.admin.stats();
  }

  @Get('deliveries/:id')
  @ApiResponse({ status: 200, description: 'the delivery with payload, errors, result, callback attempts and audit trail' })
  get(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.admin.get(id);
  }

  @Post('deliveries/:id/replay')
  @HttpCode(202)
  @ApiResponse({ status: 202, description: 'queued again' })
  @ApiResponse({ status: 409, description: 'not quarantined or dead, or already received again' })
  @ApiResponse({ status: 422, description: 'still invalid under the current configuration' })
  replay(@Param('id', new ParseUUIDPipe()) id: string, @Req() request: FastifyRequest) {
    return this.admin.replay(id, String(request.id));
  }
}

/** The dashboard page: static HTML + JS that asks for the token; absent (404) without ADMIN_TOKEN. */
@Controller('admin')
@UseGuards(AdminEnabledGuard)
export class AdminDashboardController {
  private readonly files = {
    html: readFileSync(join(PUBLIC, 'admin.html'), 'utf8'),
    js: readFileSync(join(PUBLIC, 'admin.js'), 'utf8'),
    css: readFileSync(join(PUBLIC, 'admin.css'), 'utf8'),
  };

  @Get()
  @ApiExcludeEndpoint()
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return this.files.html;
  }

  @Get('admin.js')
  @ApiExcludeEndpoint()
  @Header('content-type', 'text/javascript; charset=utf-8')
  script(): string {
    return this.files.js;
  }

  @Get('admin.css')
  @ApiExcludeEndpoint()
  @Header('content-type', 'text/css; charset=utf-8')
  stylesheet(): string {
    return this.files.css;
  }
}
