/**
 * Fuzz inputs over MQTT audit-request payloads (test/fuzz-requests.test.ts runs a CI-sized smoke,
 * bench/fuzz-requests.ts the large run): request-shaped JSON with odd fields (unicode, huge strings, numbers such
 * as 1e999, -0 or 2^53+1 written as raw JSON text, paths that leave the allowed folders, extra keys, nested
 * garbage), random JSON, deep nesting, mutated and truncated requests, random bytes and oversized payloads.
 *
 * Two targets: the daemon's intake in-process (validate → store → answer; it never throws and its outcome must
 * agree with the schema), and a live daemon over MQTT (exactly one typed answer per request, its transaction
 * echoed by the rules of the README, within a deadline).
 */
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import type { Daemon } from '../../src/daemon/controller.js';
import { parseAuditRequest, RequestError } from '../../src/daemon/request-handler.js';
import { SlmiaError } from '../../src/errors.js';
import { TransactionId, type AuditResponse } from '../../src/publish/topics.js';

/** An answer's typed error code, rethrown for the fuzz report (which counts cases by code). */
class AnswerError extends SlmiaError {}

/** Numbers as raw JSON text (JSON.stringify cannot write 1e999 or -0). */
const RAW_NUMBERS = [
  '1e999',
  '-1e999',
  '-0',
  '0.5',
  '1.5e3',
  '9007199254740991',
  '9007199254740993',
  '-9007199254740992',
  '1e-400',
  '123456789012345678901234567890',
  '0',
  '7',
] as const;

const oddString = fc.oneof(
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      'bridge',
      'SPEAKER0111',
      'a.b-c_d',
      '../../etc/passwd',
      '/etc/shadow',
      '/dev/zero',
      '/proc/self/fd/0',
      'speechocean762/audio/SPEAKER0111',
      '.',
      '/',
      '\u0000',
      'Jörg',
      '💥💥',
      '\u202eevil',
      '%s%n%x',
      '${HOME}',
      '__proto__',
      'constructor',
      'a/../../b',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.integer({ min: 100, max: 2000 }))
      .map(([s, n]) => s.repeat(n)),
  },
);

/** A number placeholder (replaced by raw JSON text) or an ordinary JSON value. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: oddString },
  { weight: 2, arbitrary: fc.constantFrom(...RAW_NUMBERS).map((n) => `__RAW_${n}__`) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** `files`: usually an array of odd strings (sometimes thousands), sometimes anything else. */
const filesValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.array(oddString, { minLength: 0, maxLength: 8 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 6 }), fc.integer({ min: 100, max: 3000 }))
      .map(([s, n]) => Array.from({ length: n }, (_, i) => `${s}${i}`)),
  },
  { weight: 1, arbitrary: fc.array(oddValue, { maxLength: 4 }) },
  { weight: 1, arbitrary: oddValue },
);

const recordValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.record(
    {
      utterances: fc.oneof(fc.integer({ min: -2, max: 30 }), oddValue),
      seconds: fc.oneof(fc.double(), oddValue),
    },
    { requiredKeys: [] },
  ),
  oddValue,
);

/** Request-shaped objects: each field present or not, sensible or odd, plus stray keys. */
const requestObject: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      transaction: fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.nat(), oddValue),
      speaker: fc.oneof(fc.constantFrom('SPEAKER0111', 'alice', 'x'), oddValue),
      files: filesValue,
      record: recordValue,
      extra: fc.dictionary(fc.string({ maxLength: 8 }), oddValue, { maxKeys: 3 }),
    },
    { requiredKeys: [] },
  )
  .map(({ extra, ...r }) => ({ ...r, ...(extra ?? {}) }));

/** JSON text with the raw-number placeholders written as raw numbers. */
function toJson(v: unknown): string {
  return JSON.stringify(v).replace(/"__RAW_([^"]+)__"/g, '$1');
}

const mutate = (text: string): fc.Arbitrary<string> =>
  fc
    .array(
      fc.tuple(
        fc.constantFrom('cut', 'flip', 'insert', 'delete'),
        fc.nat(),
        fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '\\', '\u0000', 'e999', '\ud800', 'null', ' '),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((ops) => {
      let s = text;
      for (const [op, pos, tok] of ops) {
        const at = s.length === 0 ? 0 : pos % s.length;
        if (op === 'cut') s = s.slice(0, at);
        else if (op === 'flip')
          s = s.slice(0, at) + String.fromCharCode(s.charCodeAt(at) ^ 0x20) + s.slice(at + 1);
        else if (op === 'insert') s = s.slice(0, at) + tok + s.slice(at);
        else s = s.slice(0, at) + s.slice(at + 1 + (pos % 5));
      }
      return s;
    });

/**
 * Plausible requests: mostly well-typed fields (a transaction, a valid speaker id, exactly one of `files` and
 * `record`) around odd values, so that the cases reach file access, decoding and audits, not only the schema.
 * @param paths real audio files and folders to name besides odd and forbidden paths
 */
function plausibleRequest(paths: string[]): fc.Arbitrary<Record<string, unknown>> {
  const path = fc.oneof(...(paths.length ? [{ weight: 4, arbitrary: fc.constantFrom(...paths) }] : []), {
    weight: 2,
    arbitrary: oddString,
  });
  const absent = Symbol('absent');
  /** `arb` in `present` of 10 cases, else absent. */
  const maybe = <T>(arb: fc.Arbitrary<T>, present: number): fc.Arbitrary<T | typeof absent> =>
    fc.oneof({ weight: present, arbitrary: arb }, { weight: 10 - present, arbitrary: fc.constant(absent) });
  return fc
    .record({
      transaction: maybe(
        fc.oneof(
          { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
          { weight: 2, arbitrary: fc.nat() },
          { weight: 1, arbitrary: oddValue },
        ),
        9,
      ),
      speaker: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom('SPEAKER0111', 'alice', 'hub.user-1', 'x') },
        { weight: 1, arbitrary: oddValue },
      ),
      input: fc.oneof(
        { weight: 6, arbitrary: fc.record({ files: fc.array(path, { minLength: 1, maxLength: 6 }) }) },
        {
          weight: 2,
          arbitrary: fc.record({
            record: fc.record({
              utterances: fc.oneof(
                { weight: 4, arbitrary: fc.integer({ min: 1, max: 4 }) },
                { weight: 1, arbitrary: oddValue },
              ),
              seconds: fc.oneof(
                { weight: 4, arbitrary: fc.double({ min: 0.1, max: 4, noNaN: true }) },
                { weight: 1, arbitrary: oddValue },
              ),
            }),
          }),
        },
        { weight: 1, arbitrary: fc.record({ files: fc.array(path, { maxLength: 2 }), record: recordValue }) },
        { weight: 1, arbitrary: fc.constant({}) },
      ),
      extra: maybe(fc.dictionary(fc.string({ maxLength: 8 }), oddValue, { minKeys: 1, maxKeys: 2 }), 1),
    })
    .map(({ transaction, speaker, input, extra }) => ({
      ...(transaction !== absent && { transaction }),
      speaker,
      ...input,
      ...(extra !== absent && extra),
    }));
}

/**
 * Every kind of request payload: plausible requests, request-shaped objects with odd fields, mutated requests,
 * random JSON, deep nesting, random bytes and payloads over the 256 kB bound.
 * @param paths real audio files and folders the plausible requests may name (e.g. a speaker's utterances)
 */
export function requestPayload(paths: string[] = []): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 14, arbitrary: plausibleRequest(paths).map((r) => Buffer.from(toJson(r))) },
    { weight: 6, arbitrary: requestObject.map((r) => Buffer.from(toJson(r))) },
    { weight: 3, arbitrary: requestObject.chain((r) => mutate(toJson(r))).map((s) => Buffer.from(s)) },
    {
      weight: 2,
      arbitrary: fc.jsonValue({ maxDepth: 5 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 10, max: 60_000 }), fc.constantFrom('[', '{"a":'))
        .map(([n, open]) =>
          Buffer.from(
            `{"transaction":"deep","speaker":"x","files":${open.repeat(n)}1${(open === '[' ? ']' : '}').repeat(n)}}`,
          ),
        ),
    },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 256 * 1024 - 64, max: 320 * 1024 })
        .map((n) =>
          Buffer.from(toJson({ transaction: 'huge', speaker: 'x', files: ['a.wav'], pad: 'x'.repeat(n) })),
        ),
    },
  );
}

/** The transaction a payload carries when it is a valid id (what the answer must echo), else undefined. */
function validTransaction(payload: Buffer): string | number | undefined {
  try {
    const t = (JSON.parse(payload.toString()) as { transaction?: unknown })?.transaction;
    return TransactionId.safeParse(t).success ? (t as string | number) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fuzz target: the running daemon's intake, in-process. Never throws (a throw is a crash); the outcome must
 * agree with the schema: an invalid payload is rejected (or, when its transaction is already known, answered
 * from the store / ignored as a redelivery), a valid one is stored (or answered from the store). A rejected
 * payload then rethrows its typed `request.invalid` so the report counts it.
 */
export function intakeTarget(daemon: Daemon): (payload: Buffer) => Promise<string | undefined> {
  return async (payload) => {
    let invalid: unknown;
    try {
      parseAuditRequest(payload, daemon.config);
    } catch (err) {
      if (!(err instanceof RequestError)) return `parseAuditRequest threw ${String(err)}`;
      invalid = err;
    }
    const outcome = await daemon.handler.intake(payload);
    const allowed = invalid
      ? ['rejected', 'replayed', 'duplicate-pending']
      : ['queued', 'replayed', 'duplicate-pending'];
    if (!allowed.includes(outcome)) return `${invalid ? 'invalid' : 'valid'} request → intake ${outcome}`;
    if (invalid) throw invalid;
    return undefined;
  };
}

/** Error codes: `busy`, `stopping` or `<area>.<what>`. */
const CODE = /^(busy|stopping|[a-z]+\.[a-z-]+)$/;

/**
 * Fuzz target: a live daemon over MQTT. Publishes the payload (QoS 1) and waits
 * for the next answer on `<base>/bridge/response/audit`: it must come within `ms`, be JSON with a typed code
 * (an error) or a verdict, carry at most 1,000 characters of error text, and echo the request's transaction when
 * that is a valid id (else a cut string or null). Typed error answers are rethrown as typed errors for the report.
 */
export function liveTarget(
  client: MqttClient,
  base = 'slmia',
  ms = 10_000,
): (payload: Buffer) => Promise<string | undefined> {
  const answers: Buffer[] = [];
  let wake: (() => void) | undefined;
  client.on('message', (topic, buf) => {
    if (topic !== `${base}/bridge/response/audit`) return;
    answers.push(buf);
    wake?.();
  });
  return async (payload) => {
    answers.length = 0;
    const got = new Promise<boolean>((res) => {
      const timer = setTimeout(() => res(false), ms);
      wake = () => {
        clearTimeout(timer);
        res(true);
      };
    });
    await client.publishAsync(`${base}/bridge/request/audit`, payload, { qos: 1 });
    if (!(await got)) return `no answer within ${ms} ms`;
    let a: AuditResponse;
    try {
      a = JSON.parse((answers[0] as Buffer).toString()) as AuditResponse;
    } catch {
      return `answer is not JSON: ${(answers[0] as Buffer).toString().slice(0, 200)}`;
    }
    const want = validTransaction(payload);
    if (want !== undefined && String(a.transaction) !== String(want))
      return `answer echoes transaction ${JSON.stringify(a.transaction)}, request had ${JSON.stringify(want)}`;
    const t = a.transaction;
    if (!(t === null || (typeof t === 'string' && t.length <= 128) || Number.isSafeInteger(t)))
      return `answer transaction ${JSON.stringify(t)?.slice(0, 200)}`;
    if (a.status === 'ok') return undefined;
    if (a.status !== 'error' || !CODE.test(a.code))
      return `untyped answer ${JSON.stringify(a).slice(0, 300)}`;
    if (a.error.length > 1100) return `error text of ${a.error.length} characters`;
    throw new AnswerError(a.code, a.error);
  };
}
