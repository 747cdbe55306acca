/**
 * The MQTT interface, as one typed map from topic (relative to the base topic) to payload type, in the
 * manner of Zigbee2MQTT's `Api`. Every publish goes through {@link Api}, so payloads are type-checked, and
 * {@link TOPICS} (the README table) is checked against it in tests. No payload carries audio, embeddings or
 * features: only verdicts, counts, identities and timings.
 */
import { z } from 'zod';
import type { AuditVerdict } from '../audit/index.js';

/** `<base>/bridge/state` (retained; `offline` is also the Last Will). */
export interface BridgeState {
  state: 'online' | 'offline';
}

/** `<base>/bridge/info` (retained). */
export interface BridgeInfo {
  version: string;
  device_id: string;
  model: { name: string; architecture: string; sha256: string; sample_rate: number; path: string };
  attack: { id: string; path: string };
  config: Record<string, unknown>;
  /** Bounds of one audit request: beyond them a request is answered `request.invalid` (or `busy`). Always sent
   * by this daemon; optional for consumers of older hubs. */
  limits?: RequestLimits;
}

/** Bounds of one audit request (`bridge/info`). */
export interface RequestLimits {
  /** Audio files per request (after folder expansion). */
  max_files: number;
  /** Seconds of audio per request. */
  max_seconds: number;
  /** Bytes of audio files read per request, all files together. */
  max_audio_bytes: number;
  /** Request payload size, bytes. */
  max_payload_bytes: number;
  /** Stored, unanswered requests beyond which new ones are answered `busy`. */
  max_pending: number;
  /** Characters of a request field echoed in errors or logs (longer ones are cut). */
  max_field_chars: number;
}

/** Largest request payload read, bytes (a request names files; it never carries audio). */
export const MAX_REQUEST_BYTES = 256 * 1024;

/** The verdict of one audit (the `data` of an ok response). */
export type Verdict = AuditVerdict & { audited_at: string };

/**
 * `<base>/<speaker>` (retained): the latest verdict for that speaker, with the transaction that produced it
 * (so a consumer can drop a redelivered message).
 */
export type SpeakerState = Omit<Verdict, 'speaker'> & { transaction?: string | number };

/**
 * A request's transaction id: a string of 1-128 characters or a whole number of magnitude at most 2^53-1, i.e. a
 * value that JSON carries back unchanged in the response. Others (`1.5`, `1e999` = Infinity, `2^60`) are refused
 * with `request.invalid`, and the error response's `transaction` is then null.
 */
export const TransactionId = z.custom<string | number>(
  (v) => (typeof v === 'string' && v.length >= 1 && v.length <= 128) || Number.isSafeInteger(v),
  'must be a string of 1-128 characters or a whole number of magnitude at most 2^53-1',
);

/** `<base>/bridge/request/audit` (in). Exactly one of `files` and `record`. */
export const AuditRequestSchema = z
  .object({
    transaction: TransactionId.optional(),
    speaker: z.string(),
    files: z.array(z.string().min(1).max(4096)).min(1).optional(),
    record: z
      .object({
        utterances: z.number().int().min(1),
        seconds: z.number().positive(),
      })
      .optional(),
  })
  .strict()
  .refine((r) => (r.files === undefined) !== (r.record === undefined), {
    message: 'exactly one of "files" and "record" is required',
  });
export type AuditRequest = z.infer<typeof AuditRequestSchema>;

/** `<base>/bridge/response/audit` (out): the answer to every request, matched by `transaction`. */
export type AuditResponse =
  | { status: 'ok'; data: Verdict; transaction: string | number }
  | { status: 'error'; error: string; code: string; transaction: string | number | null };

/** `<base>/bridge/event` (out): progress of an audit. */
export interface BridgeEvent {
  type: 'queued' | 'recording' | 'embedding' | 'scoring' | 'done' | 'failed';
  transaction: string | number;
  speaker: string | null;
  source: 'mqtt' | 'spool' | 'microphone' | 'cli';
  /** Recording progress (1-based utterance index) or voice count. */
  utterance?: number;
  utterances?: number;
  at: string;
}

/** A fault the daemon is living with (e.g. the store refuses writes): reported until it clears. */
export interface HealthProblem {
  /** Typed code, e.g. `store.full`, `store.read-only`, `store.corrupt`. */
  code: string;
  message: string;
  since: string;
}

/** `<base>/bridge/health` (out, periodic, and at once when `status` changes). */
export interface BridgeHealth {
  /** `degraded` while a problem lasts: requests are then answered with typed errors, none is dropped. */
  status?: 'ok' | 'degraded';
  problems?: HealthProblem[];
  uptime_s: number;
  /** Requests stored and not answered yet (the running one included). */
  pending_requests?: number;
  queue_depth: number;
  busy: boolean;
  last_audit: {
    transaction: string;
    speaker: string | null;
    status: 'ok' | 'error';
    audited_at: string;
  } | null;
  outbox_size: number;
  process: { rss_mb: number; heap_used_mb: number };
  mqtt: { connected: boolean; published: number; received: number; reconnects: number };
  at: string;
}

/** Every topic the daemon speaks, relative to the base topic (`{speaker}` stands for a speaker id). */
export interface Api {
  'bridge/state': BridgeState;
  'bridge/info': BridgeInfo;
  'bridge/request/audit': AuditRequest;
  'bridge/response/audit': AuditResponse;
  'bridge/event': BridgeEvent;
  'bridge/health': BridgeHealth;
  '{speaker}': SpeakerState;
}

/** One row of the topic table: direction, retained flag, QoS, meaning. */
export interface TopicSpec {
  topic: keyof Api;
  direction: 'in' | 'out';
  retained: boolean;
  qos: 0 | 1;
  description: string;
}

/** The topic table (README "MQTT topics" is checked against it). */
export const TOPICS: TopicSpec[] = [
  {
    topic: 'bridge/state',
    direction: 'out',
    retained: true,
    qos: 1,
    description: '`{"state":"online"}` or `{"state":"offline"}` (the Last Will)',
  },
  {
    topic: 'bridge/info',
    direction: 'out',
    retained: true,
    qos: 1,
    description: 'version, model sha256 + architecture, attack bundle id, config summary, request limits',
  },
  {
    topic: 'bridge/request/audit',
    direction: 'in',
    retained: false,
    qos: 1,
    description:
      '`{"transaction","speaker","files":[...]}` or `{"transaction","speaker","record":{"utterances":N,"seconds":S}}`',
  },
  {
    topic: 'bridge/response/audit',
    direction: 'out',
    retained: false,
    qos: 1,
    description:
      '`{"status":"ok","data":{verdict},"transaction"}` or `{"status":"error","error","code","transaction"}`',
  },
  {
    topic: 'bridge/event',
    direction: 'out',
    retained: false,
    qos: 0,
    description: 'progress: queued, recording, embedding, scoring, done, failed',
  },
  {
    topic: 'bridge/health',
    direction: 'out',
    retained: false,
    qos: 0,
    description:
      'status (ok/degraded) and problems, uptime, pending requests, queue depth, last audit, outbox size, RSS, MQTT stats',
  },
  {
    topic: '{speaker}',
    direction: 'out',
    retained: true,
    qos: 1,
    description:
      'latest verdict: verdict (`member` / `non-member` / `inconclusive`), probability, p_value, reason (why inconclusive, else null), threshold, target_fpr, voices, queries, model_sha256, attack_id, audited_at, transaction',
  },
];

/** Full topic name: `topicOf('slmia', 'bridge/state')`, `topicOf('slmia', '{speaker}', 'S1')`. */
export function topicOf<K extends keyof Api>(base: string, key: K, speaker?: string): string {
  return `${base}/${key === '{speaker}' ? (speaker as string) : key}`;
}

/** The retained speaker state of a verdict. */
export function speakerState(v: Verdict, transaction: string | number): SpeakerState {
  const { speaker: _speaker, ...state } = v;
  return { ...state, transaction };
}
