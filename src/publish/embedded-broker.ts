/**
 * The embedded MQTT broker (aedes over a TCP server) the daemon starts when no broker URL is configured, so
 * that a fresh machine needs nothing else. In-memory persistence: retained messages live as long as the daemon.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { SlmiaError } from '../errors.js';

/** A broker that could not be started (e.g. the port is in use); the message names host and port. */
export class BrokerError extends SlmiaError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('mqtt.broker', detail, options);
  }
}

/** A running embedded broker. */
export interface EmbeddedBroker {
  host: string;
  /** The bound port (the OS's choice when 0 was asked for). */
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * Start aedes on `host:port`.
 * @throws BrokerError `EADDRINUSE` when the port is busy (message says so and how to change it)
 */
export async function startEmbeddedBroker(host: string, port: number): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker({ heartbeatInterval: 3_600_000 });
  // noDelay: verdicts are small packets; Nagle + delayed ACK would add ~40 ms per exchange on loopback.
  const server: Server = createServer({ noDelay: true }, aedes.handle);
  try {
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(port, host, () => {
        server.off('error', rej);
        res();
      });
    });
  } catch (err) {
    await new Promise<void>((res) => aedes.close(() => res()));
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE'
        ? `port ${port} on ${host} is already in use (another MQTT broker?). Set mqtt.url to use that broker, or mqtt.embedded.port to another port`
        : e.message;
    throw new BrokerError(`embedded MQTT broker cannot listen on ${host}:${port}: ${why}`, { cause: err });
  }
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    host,
    port: bound,
    url: `mqtt://${host}:${bound}`,
    close: async () => {
      await new Promise<void>((res) => aedes.close(() => res()));
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
