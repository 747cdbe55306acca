/**
 * What every MQTT client and listener of the project shares: TLS files and credentials as mqtt.js options
 * (daemon link and fleet page), and the loopback test for bind addresses (embedded broker, fleet HTTP).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { IClientOptions } from 'mqtt';

/** Credentials and TLS settings of a broker connection (as in the daemon's and the fleet's `mqtt` config). */
export interface BrokerCredentials {
  username?: string | undefined;
  password?: string | undefined;
  /** PEM files: CA bundle, client certificate and its key (paths). */
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  /** false: accept a broker certificate that does not verify (default true). */
  reject_unauthorized?: boolean | undefined;
}

/**
 * mqtt.js options for the credentials and TLS files (read now, synchronously).
 * @throws Error (ENOENT/EACCES from `readFileSync`) when a PEM file cannot be read
 */
export function credentialOptions(s: BrokerCredentials): IClientOptions {
  const o: IClientOptions = {};
  if (s.username !== undefined) o.username = s.username;
  if (s.password !== undefined) o.password = s.password;
  if (s.ca) o.ca = readFileSync(s.ca);
  if (s.cert) o.cert = readFileSync(s.cert);
  if (s.key) o.key = readFileSync(s.key);
  if (s.reject_unauthorized === false) o.rejectUnauthorized = false;
  return o;
}

/**
 * Whether a bind address only accepts connections from this machine: `localhost`, `::1`, any 127.0.0.0/8
 * address, also IPv4-mapped (`::ffff:127.0.0.1`) or in brackets.
 */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}
