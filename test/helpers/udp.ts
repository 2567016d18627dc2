import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/** A UDP client on 127.0.0.1 (or another loopback address) that sends to 127.0.0.1 and waits for the next datagram. */
export class UdpPeer {
  readonly socket: Socket;
  readonly #queue: { msg: Buffer; rinfo: RemoteInfo }[] = [];
  #waiter: ((m: { msg: Buffer; rinfo: RemoteInfo }) => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      const w = this.#waiter;
      this.#waiter = undefined;
      if (w) w({ msg, rinfo });
      else this.#queue.push({ msg, rinfo });
    });
  }

  static async open(port = 0, host = '127.0.0.1'): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(port, host, resolve));
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(bytes: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }

  /** The next datagram, or undefined after `ms`. */
  next(ms = 2000): Promise<{ msg: Buffer; rinfo: RemoteInfo } | undefined> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve(undefined);
      }, ms);
      this.#waiter = (m) => {
        clearTimeout(timer);
        resolve(m);
      };
    });
  }

  async exchange(bytes: Buffer, port: number, ms = 2000): Promise<Buffer | undefined> {
    this.#queue.length = 0;
    await this.send(bytes, port);
    return (await this.next(ms))?.msg;
  }

  close(): void {
    this.socket.close();
  }
}
