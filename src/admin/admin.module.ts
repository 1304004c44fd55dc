import { Module } from '@nestjs/common';
import { EventHandlersModule } from '../event-handlers/event-handlers.module';
import { AdminDashboardController, AdminController } from './admin.controller';
import { AdminEnabledGuard, AdminTokenGuard } from './admin-token.guard';
import { AdminService } from './admin.service';

@Module({
  imports: [EventHandlersModule],
  controllers: [AdminController, AdminDashboardController],
  providers: [AdminService, AdminTokenGuard, AdminEnabledGuard],
})
export class AdminModule {}
