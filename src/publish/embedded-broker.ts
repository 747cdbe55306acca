/**
 * The embedded MQTT broker (aedes over a TCP server) the daemon starts when no broker URL is configured, so
 * that a fresh machine needs nothing else. In-memory persistence: retained messages live as long as the daemon.
 *
 * Access (src/publish/broker-acl.ts): the daemon logs in with its own credentials (`mqtt.username` /
 * `mqtt.password`, or a random password made at start-up) and alone may publish its topics; clients may
 * publish audit requests only. Beyond loopback the broker refuses to start unless client logins are configured
 * (`mqtt.embedded.users` / `mqtt.embedded.password_file`); with logins configured, anonymous clients are refused.
 *
 * Durable intake: aedes acknowledges a QoS 1 PUBLISH before it hands the message on, and its state dies with the
 * daemon, so requests are taken at the broker itself: a client's publish on an intake topic is passed to the
 * intake handler from aedes's `authorizePublish` hook, which runs BEFORE the PUBACK to the publisher. The
 * daemon stores the request there, so a request the publisher saw acknowledged is in SQLite, and one sent
 * while the daemon (and so the broker) was down is re-sent by the publisher's client after it reconnects. A
 * retained request is answered `request.retained` by the daemon and not kept by the broker.
 */
import { randomBytes } from 'node:crypto';
import { createServer, isIP, type Server } from 'node:net';
import { isLoopback } from './connection.js';
import { Aedes, type Client } from 'aedes';
import { SlmiaError } from '../errors.js';
import {
  login,
  mayPublish,
  mayReceive,
  maySubscribe,
  plainPassword,
  readPasswordFile,
  type BrokerAccess,
  type BrokerRole,
  type PasswordCheck,
} from './broker-acl.js';

/** A broker that could not be started (port in use, open bind without logins); the message says why. */
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
  /** The login the daemon must use on this broker. */
  login: { username: string; password: string };
  close(): Promise<void>;
}

/** What {@link startEmbeddedBroker} needs (from the daemon's `mqtt` settings). */
export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  base: string;
  discoveryPrefix: string;
  /** The daemon's client id (reserved for it). */
  clientId: string;
  /** The daemon's login; a random password is made when unset. */
  username?: string;
  password?: string;
  /** Client logins from the settings. */
  users?: { username: string; password: string }[];
  /** Mosquitto password file of more client logins. */
  passwordFile?: string;
  /** Told about a bind beyond loopback (with logins). */
  warn?: (msg: string) => void;
  /** Exact topic names taken at the broker from clients (see the module note). */
  intakeTopics?: string[];
  /** Awaited before the publisher's PUBACK; a rejection closes that client's connection (no PUBACK). */
  intake?: (p: IntakePacket) => Promise<void>;
}

/** A client's publish on an intake topic. */
export interface IntakePacket {
  topic: string;
  payload: Buffer;
  retain: boolean;
  dup: boolean;
  clientId: string | null;
}

export { isLoopback } from './connection.js';

/**
 * Start aedes on `host:port` with logins and the ACL.
 * @throws BrokerError when the port is busy (says how to change it), or when `host` is not loopback and no
 *   client logins are configured; BrokerAccessError for an unusable password file
 */
export async function startEmbeddedBroker(o: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const users = new Map<string, PasswordCheck>();
  for (const u of o.users ?? []) users.set(u.username, plainPassword(u.password));
  if (o.passwordFile) for (const [u, check] of readPasswordFile(o.passwordFile)) users.set(u, check);
  const daemonUser = o.username ?? 'slmia';
  if (users.has(daemonUser))
    throw new BrokerError(
      `embedded MQTT broker: client login "${daemonUser}" is the daemon's own user name (mqtt.username); give clients other names`,
    );
  const where = o.host === '' ? 'all interfaces ("")' : o.host;
  if (!isLoopback(o.host)) {
    if (users.size === 0)
      throw new BrokerError(
        `embedded MQTT broker would listen on ${where}, beyond this machine, without logins: set mqtt.embedded.users or mqtt.embedded.password_file (clients must log in), or mqtt.embedded.host: 127.0.0.1`,
      );
    o.warn?.(
      `embedded MQTT broker listens on ${where} (beyond loopback): ${users.size} client login(s), anonymous clients refused; MQTT without TLS sends passwords in clear — prefer an external broker with TLS on untrusted networks`,
    );
  }
  const access: BrokerAccess = {
    base: o.base,
    discoveryPrefix: o.discoveryPrefix,
    daemon: {
      username: daemonUser,
      password: o.password ?? randomBytes(24).toString('base64url'),
      clientId: o.clientId,
    },
    users,
  };
  const roles = new WeakMap<Client, BrokerRole>();
  const roleOf = (c: Client | null): BrokerRole => (c === null ? 'daemon' : (roles.get(c) ?? 'client'));
  const aedes = await Aedes.createBroker({
    heartbeatInterval: 3_600_000,
    authenticate: (client, username, password, done) => {
      const r = login(access, client.id, username, password ?? undefined);
      if (typeof r === 'string') {
        roles.set(client, r);
        done(null, true);
      } else {
        const err = Object.assign(new Error('not authorized'), { returnCode: r.refused });
        done(err as Parameters<typeof done>[0], false);
      }
    },
    // A refused publish closes the client's connection (MQTT 3.1.1 has no negative PUBACK); wills too.
    authorizePublish: (client, packet, done) => {
      const role = roleOf(client);
      if (client !== null && o.intake && o.intakeTopics?.includes(packet.topic)) {
        // A request from any connected client (whatever its role: `slmia daemon --demo` logs in as the
        // daemon): stored (or answered) by the daemon before the PUBACK; a retained one is answered
        // `request.retained` and not kept by the broker.
        o.intake({
          topic: packet.topic,
          payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
          retain: packet.retain,
          dup: packet.dup,
          clientId: client?.id ?? null,
        }).then(
          () => {
            packet.retain = false;
            done(null);
          },
          (err: Error) => done(err),
        );
        return;
      }
      done(
        mayPublish(access, role, packet.topic, packet.retain)
          ? null
          : new Error(`publish on ${packet.topic} not allowed`),
      );
    },
    authorizeSubscribe: (client, sub, done) =>
      done(null, maySubscribe(access, roleOf(client), sub.topic) ? sub : null),
    authorizeForward: (client, packet) =>
      mayReceive(access, roleOf(client), packet.topic) ? packet : undefined,
  });
  // noDelay: verdicts are small packets; Nagle + delayed ACK would add ~40 ms per exchange on loopback.
  const server: Server = createServer({ noDelay: true }, aedes.handle);
  try {
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(o.port, o.host, () => {
        server.off('error', rej);
        res();
      });
    });
  } catch (err) {
    await new Promise<void>((res) => aedes.close(() => res()));
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE'
        ? `port ${o.port} on ${where} is already in use (another MQTT broker?). Set mqtt.url to use that broker, or mqtt.embedded.port to another port`
        : e.message;
    throw new BrokerError(`embedded MQTT broker cannot listen on ${where}:${o.port}: ${why}`, { cause: err });
  }
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : o.port;
  const urlHost = o.host === '' || o.host === '0.0.0.0' ? '127.0.0.1' : o.host === '::' ? '[::1]' : o.host;
  return {
    host: o.host,
    port: bound,
    url: `mqtt://${isIP(urlHost) === 6 ? `[${urlHost}]` : urlHost}:${bound}`,
    login: { username: access.daemon.username, password: access.daemon.password },
    close: async () => {
      await new Promise<void>((res) => aedes.close(() => res()));
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}
