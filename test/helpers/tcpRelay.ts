// A loopback TCP relay in front of a server, whose connections a test can black-hole: from then on bytes stop
// flowing both ways and nothing is closed, as on a half-dead network (a pulled cable, a NAT that forgot the flow).
// Neither end learns anything until its own timeouts say so.
import { connect, createServer, type Socket } from "node:net";

export interface TcpRelay {
  /** The relay's port on 127.0.0.1. */
  port: number;
  /** Stops forwarding on every connection, open or yet to come, without closing any. */
  blackHole(): void;
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

export async function startTcpRelay(target: { host: string; port: number }): Promise<TcpRelay> {
  let holed = false;
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
  };
  const server = createServer((downstream) => {
    const upstream = connect(target.port, target.host);
    track(downstream);
    track(upstream);
    const pipe = (from: Socket, to: Socket) => {
      from.on("data", (chunk) => {
        if (!holed) to.write(chunk);
      });
      from.on("close", () => {
        if (!holed) to.destroy();
      });
    };
    pipe(downstream, upstream);
    pipe(upstream, downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("the relay has no port");
  return {
    port: address.port,
    blackHole() {
      holed = true;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
