import { EventEmitter } from 'node:events';
import { isObservable, Observable, of } from 'rxjs';
import { Socket } from 'socket.io';
import { ConfiguredIoAdapter } from './socket-io.adapter';

/** Nest's transform: a handler's value, promise or observable as an observable. */
const transform = (value: unknown): Observable<unknown> =>
  isObservable(value) ? value : value instanceof Promise ? new Observable((s) => void value.then((v) => (s.next(v), s.complete()))) : of(value);

class FakeSocket extends EventEmitter {
  emitted: [string, unknown][] = [];
  send(event: string, ...args: unknown[]): void {
    super.emit(event, ...args);
  }
  override emit(event: string, data?: unknown): boolean {
    this.emitted.push([event, data]);
    return true;
  }
}

/** Lets the handlers' promises settle. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('ConfiguredIoAdapter.bindMessageHandlers', () => {
  const adapter = new ConfiguredIoAdapter({} as never, []);

  it('answers the acknowledgement with the handler result, emits {event, data} results, and ignores empty ones', async () => {
    const socket = new FakeSocket();
    const seen: unknown[] = [];
    adapter.bindMessageHandlers(socket as unknown as Socket, [
      { message: 'subscribe', methodName: 'subscribe', isAckHandledManually: false, callback: (data: unknown) => (seen.push(data), Promise.resolve({ ok: true })) },
      { message: 'ping', methodName: 'ping', isAckHandledManually: false, callback: () => of({ event: 'pong', data: { at: 1 } }) },
      { message: 'nothing', methodName: 'nothing', isAckHandledManually: false, callback: () => Promise.resolve(undefined) },
    ], transform);
    const acks: unknown[] = [];
    socket.send('subscribe', { channel_id: 'c1' }, (answer: unknown) => acks.push(answer));
    socket.send('ping');
    socket.send('nothing', {}, (answer: unknown) => acks.push(answer));
    await flush();
    expect(seen).toEqual([{ channel_id: 'c1' }]);
    expect(acks).toEqual([{ ok: true }]);
    expect(socket.emitted).toEqual([['pong', { at: 1 }]]);
  });

  it('leaves the acknowledgement to a handler that takes it itself, and passes several arguments as an array', async () => {
    const socket = new FakeSocket();
    const received: unknown[] = [];
    adapter.bindMessageHandlers(socket as unknown as Socket, [
      { message: 'manual', methodName: 'manual', isAckHandledManually: true, callback: (data: unknown, ack: unknown) => (received.push(data, typeof ack), of('ignored')) },
    ], transform);
    const acks: unknown[] = [];
    socket.send('manual', 'a', 'b', (answer: unknown) => acks.push(answer));
    await flush();
    expect(received).toEqual([['a', 'b'], 'function']);
    expect(acks).toEqual([]);
  });
});
