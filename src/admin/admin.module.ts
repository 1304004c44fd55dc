import { Module } from '@nestjs/common';
import { DeliveriesModule } from '../deliveries/deliveries.module';
import { AdminDashboardController, AdminController } from './admin.controller';
import { AdminEnabledGuard, AdminTokenGuard } from './admin-token.guard';
import { AdminService } from './admin.service';

@Module({
  imports: [DeliveriesModule],
  controllers: [AdminController, AdminDashboardController],
  providers: [AdminService, AdminTokenGuard, AdminEnabledGuard],
})
export class AdminModule {}
