/**
 * What the fleet reads from a hub's topics (src/publish/topics.ts is the contract): the topic parser and zod
 * schemas that keep only the known fields. Unknown keys are dropped, so the fleet store and the page can never
 * hold audio, embeddings or features even if a hub sent them. The schemas are tolerant where the contract is
 * growing: any verdict string (`member`, `non-member`, `inconclusive`, …), optional `p_value` and `reason`,
 * an optional health `state` (e.g. `degraded`).
 */
import { z } from 'zod';
import { SPEAKER_ID } from '../daemon/config.js';
import { MAX_REQUEST_BYTES } from '../publish/topics.js';

/** Largest payload the fleet parses, bytes: the hubs' own request bound (other messages are < 2 KB). */
export const MAX_PAYLOAD_BYTES = MAX_REQUEST_BYTES;

/** One topic of a hub: `kind` and, for `speaker`, the speaker id. */
export type HubTopic =
  | { base: string; kind: 'state' | 'info' | 'health' | 'event' | 'response' | 'request' }
  | { base: string; kind: 'speaker'; speaker: string };

const BRIDGE_SUFFIXES: [string, HubTopic['kind']][] = [
  ['/bridge/state', 'state'],
  ['/bridge/info', 'info'],
  ['/bridge/health', 'health'],
  ['/bridge/event', 'event'],
  ['/bridge/response/audit', 'response'],
  ['/bridge/request/audit', 'request'],
];

/**
 * Split a full topic into the hub's base topic and what it carries: `slmia/hub-a/bridge/info` →
 * `{base: 'slmia/hub-a', kind: 'info'}`, `slmia/hub-a/SPEAKER0042` → a speaker state. Undefined for topics
 * that are neither (the speaker segment must be a valid speaker id).
 */
export function parseHubTopic(topic: string): HubTopic | undefined {
  for (const [suffix, kind] of BRIDGE_SUFFIXES)
    if (topic.endsWith(suffix) && topic.length > suffix.length)
      return { base: topic.slice(0, -suffix.length), kind } as HubTopic;
  const cut = topic.lastIndexOf('/');
  if (cut <= 0) return undefined;
  const speaker = topic.slice(cut + 1);
  if (!SPEAKER_ID.test(speaker)) return undefined;
  return { base: topic.slice(0, cut), kind: 'speaker', speaker };
}

const num = z.number().finite();
const str = (max: number) => z.string().max(max);
const tx = z.union([str(128), num]);

/** `bridge/state`. */
export const StateSchema = z.object({ state: z.enum(['online', 'offline']) });

/** `bridge/info`: identity and the whitelisted part of the config summary. */
export const InfoSchema = z.object({
  version: str(64).optional(),
  device_id: str(128).optional(),
  model: z
    .object({
      name: str(200).optional(),
      architecture: str(100).optional(),
      sha256: str(128).optional(),
      sample_rate: num.optional(),
    })
    .optional(),
  attack: z.object({ id: str(128).optional() }).optional(),
  /** Bounds of one audit request on this hub (hubs that send them). */
  limits: z
    .object({ max_files: num.optional(), max_seconds: num.optional(), max_pending: num.optional() })
    .optional(),
  config: z
    .object({
      base_topic: str(256).optional(),
      broker: str(256).optional(),
      tls: z.boolean().optional(),
      queue_max_pending: num.optional(),
      health_interval_s: num.optional(),
    })
    .optional(),
});
export type HubInfo = z.infer<typeof InfoSchema>;

/** `bridge/health`. */
export const HealthSchema = z.object({
  uptime_s: num.optional(),
  queue_depth: num.optional(),
  busy: z.boolean().optional(),
  /** `ok` or `degraded` (hubs that report it); `state` is accepted as a synonym. */
  status: str(32).optional(),
  state: str(32).optional(),
  /** What a degraded hub is living with (e.g. `store.full`), reported until it clears. */
  problems: z
    .array(z.object({ code: str(64), message: str(500).optional(), since: str(40).optional() }))
    .max(20)
    .optional(),
  pending_requests: num.optional(),
  last_audit: z
    .object({
      transaction: tx.optional(),
      speaker: str(64).nullable().optional(),
      status: str(16).optional(),
      audited_at: str(40).optional(),
    })
    .nullable()
    .optional(),
  outbox_size: num.optional(),
  process: z.object({ rss_mb: num.optional(), heap_used_mb: num.optional() }).optional(),
  mqtt: z
    .object({
      connected: z.boolean().optional(),
      published: num.optional(),
      received: num.optional(),
      reconnects: num.optional(),
    })
    .optional(),
  at: str(40).optional(),
});
export type HubHealth = z.infer<typeof HealthSchema>;

/** A verdict (retained `<base>/<speaker>`, or the `data` of an ok response with `speaker`). */
export const VerdictSchema = z.object({
  verdict: str(32),
  probability: num.nullable().optional(),
  threshold: num.nullable().optional(),
  target_fpr: num.nullable().optional(),
  p_value: num.nullable().optional(),
  reason: str(500).nullable().optional(),
  voices: num.nullable().optional(),
  queries: num.nullable().optional(),
  model_sha256: str(128).nullable().optional(),
  attack_id: str(128).nullable().optional(),
  audited_at: str(40),
});
export type VerdictPayload = z.infer<typeof VerdictSchema>;

/** `bridge/response/audit`. */
export const ResponseSchema = z.union([
  z.object({
    status: z.literal('ok'),
    data: VerdictSchema.extend({ speaker: str(64) }),
    transaction: tx,
  }),
  z.object({
    status: z.literal('error'),
    error: str(2000),
    code: str(64),
    transaction: tx.nullable(),
  }),
]);
export type ResponsePayload = z.infer<typeof ResponseSchema>;

/** `bridge/event`. */
export const EventSchema = z.object({
  type: str(32),
  transaction: tx,
  speaker: str(64).nullable().optional(),
  source: str(32).optional(),
  utterance: num.optional(),
  utterances: num.optional(),
  at: str(40).optional(),
});
export type EventPayload = z.infer<typeof EventSchema>;

/** `bridge/request/audit` as seen on the wire (only who asked for which speaker; not the file list). */
export const RequestSeenSchema = z.object({ transaction: tx.optional(), speaker: str(64) });

/** Parse a JSON payload with `schema`; undefined when too large, not JSON, or not matching. */
export function parsePayload<T>(schema: z.ZodType<T>, payload: Buffer): T | undefined {
  if (payload.length > MAX_PAYLOAD_BYTES || payload.length === 0) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const r = schema.safeParse(raw);
  return r.success ? r.data : undefined;
}
