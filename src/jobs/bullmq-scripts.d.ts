/**
 * BullMQ's built Lua scripts: the map its `RedisConnection` loads (one export per script, `moveToActive` among
 * them). The package ships the JavaScript under dist/cjs but declares these types only under dist/esm.
 */
declare module 'bullmq/dist/cjs/scripts' {
  import type { RawCommand } from 'bullmq';

  export const moveToActive: RawCommand;
}
