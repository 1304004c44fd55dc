import { Module } from '@nestjs/common';
import { DemoController } from './demo.controller';

/** The demo page at `/`: a browser client of /ai/generate and the realtime gateway. */
@Module({ controllers: [DemoController] })
export class DemoModule {}
