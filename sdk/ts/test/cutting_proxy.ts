// A TCP proxy to sandboxd whose connections the test can cut, to break a client's
// connection the way a network failure does (the server process lives on).

import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export class CuttingProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private refusing = false;

  private constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }

  /** A proxy on 127.0.0.1 (a free port) to target "host:port". */
  static async start(target: string): Promise<CuttingProxy> {
    const [host, port] = target.split(":");
    const proxy = new CuttingProxy({ host: host ?? "", port: Number(port) });
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  /** "http://127.0.0.1:<port>": the address for the client. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resets every open connection and refuses new ones until restore(). */
  cut(): void {
    this.refusing = true;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
  }

  restore(): void {
    this.refusing = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: Socket): void {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(this.target);
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      this.sockets.add(from);
      from.pipe(to);
      from.on("error", () => to.destroy());
      from.on("close", () => {
        this.sockets.delete(from);
        to.destroy();
      });
    }
  }
}
