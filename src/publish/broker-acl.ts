/**
 * Who may do what on the embedded broker (src/publish/embedded-broker.ts): logins (the daemon's own, client
 * users from the settings or a Mosquitto password file) and the topic ACL. Only the daemon publishes its topics
 * (`<base>/…`, Home Assistant discovery); a client may publish audit requests only (never retained), subscribe
 * under the base topic and the discovery prefix, and never sees other clients' requests. The same rules for an
 * external Mosquitto are in deploy/mosquitto/ (docs/security.md).
 */
import { createHash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SlmiaError } from '../errors.js';

/** `daemon`: the auditing service itself; `client`: anybody else (logged in, or anonymous on loopback). */
export type BrokerRole = 'daemon' | 'client';

/** A password file or user list that cannot be used; the message names the file and line. */
export class BrokerAccessError extends SlmiaError {
  constructor(detail: string) {
    super('config.invalid', detail);
  }
}

/** Checks one password (constant time for the same hash kind). */
export type PasswordCheck = (password: Buffer) => boolean;

/** What the embedded broker enforces. */
export interface BrokerAccess {
  /** Base topic of the daemon (`slmia`). */
  base: string;
  /** Home Assistant discovery prefix (clients may subscribe under it). */
  discoveryPrefix: string;
  /** The daemon's login and client id (no other login may take that client id). */
  daemon: { username: string; password: string; clientId: string };
  /** Client logins; when empty, anonymous clients are let in (the broker refuses that beyond loopback). */
  users: Map<string, PasswordCheck>;
}

function sameSecret(a: Buffer, b: Buffer): boolean {
  // Hash first so that the comparison takes the same time whatever the lengths.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** A plain-text password from the settings. */
export function plainPassword(password: string): PasswordCheck {
  const want = Buffer.from(password, 'utf8');
  return (got) => sameSecret(got, want);
}

/**
 * One Mosquitto password hash (`mosquitto_passwd`): `$6$<salt>$<hash>` = SHA-512(password ‖ salt) and
 * `$7$<iterations>$<salt>$<hash>` = PBKDF2-HMAC-SHA-512 (Mosquitto 2.0 default), salt and hash base64.
 * Source: mosquitto src/password_mosq.c (pw__hash, pw__memcmp_const).
 * @returns the check, or undefined for an unknown hash format
 */
export function mosquittoHash(hash: string): PasswordCheck | undefined {
  const p = hash.split('$');
  if (p[1] === '6' && p.length === 4) {
    const salt = Buffer.from(p[2] as string, 'base64');
    const want = Buffer.from(p[3] as string, 'base64');
    if (want.length !== 64) return undefined;
    return (got) => sameSecret(createHash('sha512').update(got).update(salt).digest(), want);
  }
  if (p[1] === '7' && p.length === 5) {
    const iterations = Number(p[2]);
    const salt = Buffer.from(p[3] as string, 'base64');
    const want = Buffer.from(p[4] as string, 'base64');
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000 || want.length === 0)
      return undefined;
    return (got) => sameSecret(pbkdf2Sync(got, salt, iterations, want.length, 'sha512'), want);
  }
  return undefined;
}

/**
 * Read a Mosquitto password file (`user:hash` per line, `#` comments).
 * @throws BrokerAccessError naming the file and line of a malformed entry or an unknown hash format
 */
export function readPasswordFile(path: string): Map<string, PasswordCheck> {
  const users = new Map<string, PasswordCheck>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BrokerAccessError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const check = colon > 0 ? mosquittoHash(line.slice(colon + 1)) : undefined;
    if (!check)
      throw new BrokerAccessError(
        `${path}: line ${i + 1}: expected "user:$7$…" or "user:$6$…" (mosquitto_passwd output)`,
      );
    users.set(line.slice(0, colon), check);
  }
  return users;
}

/** Whether an MQTT topic filter can only match topics under `prefix/` (no leading wildcard or `$`). */
function filterUnder(filter: string, prefix: string): boolean {
  return filter === `${prefix}/#` || filter.startsWith(`${prefix}/`);
}

/** The audit request topic. */
export function requestTopic(a: BrokerAccess): string {
  return `${a.base}/bridge/request/audit`;
}

/** Whether `role` may publish on `topic` (with the retain flag `retain`). */
export function mayPublish(a: BrokerAccess, role: BrokerRole, topic: string, retain: boolean): boolean {
  if (role === 'daemon') return true;
  return topic === requestTopic(a) && !retain;
}

/** Whether `role` may subscribe to `filter`. */
export function maySubscribe(a: BrokerAccess, role: BrokerRole, filter: string): boolean {
  if (role === 'daemon') return true;
  return filterUnder(filter, a.base) || filterUnder(filter, a.discoveryPrefix);
}

/** Whether a message on `topic` may be delivered to a subscriber of `role` (requests go to the daemon only). */
export function mayReceive(a: BrokerAccess, role: BrokerRole, topic: string): boolean {
  return role === 'daemon' || topic !== requestTopic(a);
}

/**
 * The role of a connecting client, or why it is refused.
 * @returns `daemon` | `client`, or `{ refused }` with the MQTT CONNACK code (2 identifier rejected, 4 bad
 *   user name or password, 5 not authorized)
 */
export function login(
  a: BrokerAccess,
  clientId: string,
  username: string | undefined,
  password: Buffer | undefined,
): BrokerRole | { refused: 2 | 4 | 5 } {
  const pw = password ?? Buffer.alloc(0);
  if (username === a.daemon.username) {
    if (!sameSecret(pw, Buffer.from(a.daemon.password, 'utf8'))) return { refused: 4 };
    return 'daemon';
  }
  // Nobody else may take over the daemon's session (MQTT drops the older connection of a client id).
  if (clientId === a.daemon.clientId) return { refused: 2 };
  // No client logins configured (loopback only): anyone is a client, whatever name it gives.
  if (a.users.size === 0) return 'client';
  if (username === undefined) return { refused: 5 };
  const check = a.users.get(username);
  // An unknown user costs a hash too, so that timing does not tell which names exist.
  if (!check) {
    plainPassword('x')(pw);
    return { refused: 4 };
  }
  return check(pw) ? 'client' : { refused: 4 };
}
