import { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

export type PhoenixVsn = '1.0.0' | '2.0.0';

export interface PhoenixFrame {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
}

/** Refs are strings on the wire (numbers tolerated); anything else is no ref. */
const refOf = (value: unknown): string | null =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;

/** vsn 2.0.0 sends `[join_ref, ref, topic, event, payload]`; vsn 1.0.0 sends `{topic, event, payload, ref}`. */
export function decodeFrame(raw: string): PhoenixFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (Array.isArray(value) && value.length === 5 && typeof value[2] === 'string' && typeof value[3] === 'string') {
    const [joinRef, ref, topic, event, payload] = value as [unknown, unknown, string, string, unknown];
    return { joinRef: refOf(joinRef), ref: refOf(ref), topic, event, payload };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const frame = value as Record<string, unknown>;
    if (typeof frame.topic !== 'string' || typeof frame.event !== 'string') return undefined;
    const ref = refOf(frame.ref);
    return { joinRef: refOf(frame.join_ref) ?? ref, ref, topic: frame.topic, event: frame.event, payload: frame.payload };
  }
  return undefined;
}

export function encodeFrame(frame: PhoenixFrame, vsn: PhoenixVsn): string {
  return vsn === '2.0.0'
    ? JSON.stringify([frame.joinRef, frame.ref, frame.topic, frame.event, frame.payload])
    : JSON.stringify({ topic: frame.topic, event: frame.event, payload: frame.payload, ref: frame.ref });
}

export interface PhoenixServerOptions {
  /** Validates the `token` query parameter (and consumes it); returns the channel it grants, if any. */
  authorize(token: string | null): string | undefined;
  /** `undefined` to accept the join, or the reason to refuse it. */
  joinError(topic: string, grantedChannel: string): string | undefined;
  idleTimeoutMs: number;
  onEvent?(channelId: string, event: 'join' | 'leave' | 'close'): void;
}

interface Connection {
  ws: WebSocket;
  vsn: PhoenixVsn;
  channelId: string;
  joined: Map<string, string | null>;
  idle?: NodeJS.Timeout;
}

/** Just enough of the Phoenix Channels server protocol to be a faithful ModelRiver for our backend and tests. */
export class PhoenixChannelServer {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly connections = new Set<Connection>();

  constructor(private readonly options: PhoenixServerOptions) {}

  /** Upgrade handler for `{path}/websocket?token=…&vsn=…`; a bad token gets 403 before any WebSocket. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://sandbox');
    const channelId = this.options.authorize(url.searchParams.get('token'));
    if (!channelId) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const vsn: PhoenixVsn = url.searchParams.get('vsn') === '2.0.0' ? '2.0.0' : '1.0.0';
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, vsn, channelId));
  }

  /** Sends `event` to every socket that joined a topic for this channel. */
  push(channelId: string, event: string, payload: unknown): number {
    let sent = 0;
    for (const connection of this.connections) {
      if (connection.channelId !== channelId) continue;
      for (const [topic, joinRef] of connection.joined) {
        this.send(connection, { joinRef, ref: null, topic, event, payload });
        sent++;
      }
    }
    return sent;
  }

  /** After a terminal status: phx_close on each joined topic, then close 1000. */
  closeChannel(channelId: string): void {
    for (const connection of this.connections) {
      if (connection.channelId !== channelId) continue;
      for (const [topic, joinRef] of connection.joined) {
        this.send(connection, { joinRef, ref: joinRef, topic, event: 'phx_close', payload: {} });
      }
      connection.ws.close(1000, 'completed');
    }
  }

  joinedSockets(channelId: string): number {
    return [...this.connections].filter((c) => c.channelId === channelId && c.joined.size > 0).length;
  }

  close(): void {
    for (const connection of this.connections) connection.ws.terminate();
    this.wss.close();
  }

  private accept(ws: WebSocket, vsn: PhoenixVsn, channelId: string): void {
    const connection: Connection = { ws, vsn, channelId, joined: new Map() };
    this.connections.add(connection);
    this.touch(connection);
    ws.on('message', (data: Buffer) => {
      this.touch(connection);
      const frame = decodeFrame(data.toString('utf8'));
      if (frame) this.handle(connection, frame);
    });
    ws.on('close', () => {
      clearTimeout(connection.idle);
      this.connections.delete(connection);
      this.options.onEvent?.(channelId, 'close');
    });
    ws.on('error', () => ws.terminate());
  }

  private handle(connection: Connection, frame: PhoenixFrame): void {
    const reply = (status: 'ok' | 'error', response: Record<string, unknown> = {}) =>
      this.send(connection, { joinRef: frame.joinRef, ref: frame.ref, topic: frame.topic, event: 'phx_reply', payload: { status, response } });

    if (frame.topic === 'phoenix' && frame.event === 'heartbeat') return reply('ok');
    switch (frame.event) {
      case 'phx_join': {
        const reason = this.options.joinError(frame.topic, connection.channelId);
        if (reason) return reply('error', { reason });
        connection.joined.set(frame.topic, frame.joinRef ?? frame.ref);
        this.options.onEvent?.(connection.channelId, 'join');
        return reply('ok');
      }
      case 'phx_leave':
        connection.joined.delete(frame.topic);
        this.options.onEvent?.(connection.channelId, 'leave');
        return reply('ok');
      case 'heartbeat': // the official SDK also heartbeats on its channel
        return reply(connection.joined.has(frame.topic) ? 'ok' : 'error', connection.joined.has(frame.topic) ? {} : { reason: 'unmatched topic' });
      default:
        return reply('error', { reason: 'unmatched topic' });
    }
  }

  private send(connection: Connection, frame: PhoenixFrame): void {
    if (connection.ws.readyState === WebSocket.OPEN) connection.ws.send(encodeFrame(frame, connection.vsn));
  }

  /** The server closes sockets that sent nothing (not even a heartbeat) for the idle timeout. */
  private touch(connection: Connection): void {
    clearTimeout(connection.idle);
    connection.idle = setTimeout(() => connection.ws.close(1000, 'idle'), this.options.idleTimeoutMs);
    connection.idle.unref();
  }
}
