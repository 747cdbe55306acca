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
