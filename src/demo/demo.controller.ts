import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header, HttpCode } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

const PUBLIC = join(__dirname, '..', '..', 'public');
const read = (file: string) => readFileSync(join(PUBLIC, file), 'utf8');

/** The demo page (`public/`, plain HTML + JS, no build step), read once at boot. */
@ApiExcludeController()
@Controller()
export class DemoController {
  private readonly files = { html: read('index.html'), js: read('demo.js'), css: read('demo.css') };

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return this.files.html;
  }

  @Get('demo.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  script(): string {
    return this.files.js;
  }

  /** Browsers ask for it on every page: an empty answer, cached, instead of a logged 404. */
  @Get('favicon.ico')
  @HttpCode(204)
  @Header('cache-control', 'public, max-age=86400')
  favicon(): void {}

  @Get('demo.css')
  @Header('content-type', 'text/css; charset=utf-8')
  styles(): string {
    return this.files.css;
  }
}
