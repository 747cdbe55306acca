/**
 * The daemon's handle on the audit pipeline (src/audit/audit-speaker.ts): opened once at start-up (model,
 * attack bundle and reference bank loaded once), then one call per audit. The daemon only sees this
 * interface, so the shells stay thin and tests run the real pipeline through it.
 */
import type { Clip } from '../audio/index.js';
import type { AuditResult } from '../audit/index.js';
import type { RuntimeOptions } from '../model/index.js';
import type { Db } from '../store/db.js';

/** What one audit returns: the pipeline's own result type. */
export type { AuditResult } from '../audit/index.js';

/** Identity of the loaded model and attack, for `bridge/info`. */
export interface AuditorInfo {
  model: {
    name: string;
    architecture: string;
    sha256: string;
    sample_rate: number;
    min_seconds: number;
    path: string;
  };
  attack: { id: string; path: string };
}

/** An opened audit pipeline. */
export interface Auditor {
  readonly info: AuditorInfo;
  /** Audit a speaker from audio files (decoded, resampled, trimmed by the pipeline). */
  auditFiles(speaker: string, paths: string[]): Promise<AuditResult>;
  /**
   * Audit a speaker from prepared clips at `info.model.sample_rate` (from the microphone, or decoded file by
   * file as the audit takes them: only the clips waiting for a model batch are held).
   */
  auditClips(speaker: string, clips: Iterable<Clip> | AsyncIterable<Clip>): Promise<AuditResult>;
  close(): Promise<void>;
}

/** What {@link openAuditor} needs. */
export interface AuditorOptions {
  modelPath: string;
  attackPath: string;
  /** The daemon's database; the reference-embedding cache lives in it. */
  db: Db;
  /** Speech data folder of the reference speakers. */
  dataDir?: string;
  /** onnxruntime settings for every model the pipeline loads. */
  runtime?: RuntimeOptions;
}
