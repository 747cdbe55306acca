/** Audit jobs: what the queue carries from an input (MQTT request, spool folder, microphone) to the worker. */
import type { AuditSource } from '../store/audits.js';
import type { SpoolBatch } from './spool.js';

/** Where a job's audio comes from. */
export type JobInput =
  | { kind: 'files'; paths: string[] }
  | { kind: 'record'; utterances: number; seconds: number }
  | { kind: 'spool'; batch: SpoolBatch };

/** One audit to run. `transaction` is echoed in the response exactly as the request gave it. */
export interface AuditJob {
  transaction: string | number;
  /** Arrival sequence number of the stored request (absent for requests rejected at intake). */
  seq?: number;
  source: AuditSource;
  speaker: string;
  input: JobInput;
  /** ISO time the request arrived. */
  requestedAt: string;
}

let counter = 0;

/** A transaction id for requests that did not bring one: `<device>-<epoch ms>-<n>`. */
export function newTransactionId(deviceId: string): string {
  counter = (counter + 1) % 1_000_000;
  return `${deviceId}-${Date.now()}-${counter}`;
}

/** The store key of a transaction id (numbers and strings share one namespace: 42 and "42" are one id). */
export function transactionKey(transaction: string | number): string {
  return String(transaction);
}

/** Longest field text kept in errors, logs and the store (longer text is cut, with its length noted). */
export const MAX_FIELD_CHARS = 128;

/** `s` cut to `max` characters, with `…(+N chars)` when cut. */
export function truncate(s: string, max = MAX_FIELD_CHARS): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(+${s.length - max} chars)`;
}
