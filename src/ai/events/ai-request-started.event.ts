export const AI_REQUEST_STARTED = 'ai.request.started';

/** A request started on ModelRiver; carries what is needed to follow its WebSocket channel. */
export class AiRequestStartedEvent {
  constructor(
    readonly channelId: string,
    readonly wsToken: string | undefined,
    readonly websocketUrl: string | undefined,
    readonly websocketChannel: string | undefined,
  ) {}
}
