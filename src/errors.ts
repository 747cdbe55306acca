/**
 * Typed errors shared by every stage. Each error names the thing at fault (file, field, topic) and what
 * was expected, so a caller can both show it to a person and branch on `code`.
 */

/** Base class: `code` is a stable machine-readable identifier, `message` is for people. */
export class SlmiaError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Why an audio input was rejected. */
export type AudioErrorReason =
  | 'not-found'
  | 'empty'
  | 'truncated-header'
  | 'truncated'
  | 'unsupported-encoding'
  | 'zero-channels'
  | 'non-finite'
  | 'too-short'
  | 'no-speech'
  | 'out-of-range'
  | 'too-long'
  | 'decode-failed';

/** An audio file or stream that cannot be used; `file` is the path (or a stream label). */
export class AudioError extends SlmiaError {
  readonly file: string;
  readonly reason: AudioErrorReason;
  constructor(file: string, reason: AudioErrorReason, detail: string, options?: { cause?: unknown }) {
    super(`audio.${reason}`, `${file}: ${detail}`, options);
    this.file = file;
    this.reason = reason;
  }
}

/** A model manifest (model.json) that is invalid or does not match its ONNX file. */
export class ManifestError extends SlmiaError {
  readonly file: string;
  readonly field: string;
  constructor(file: string, field: string, detail: string, options?: { cause?: unknown }) {
    super('manifest.invalid', `${file}: field "${field}": ${detail}`, options);
    this.file = file;
    this.field = field;
  }
}

/** A model call that failed or returned something other than the manifest promised. */
export class ModelError extends SlmiaError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('model.failed', detail, options);
  }
}

/** A dataset folder or split file that does not have the documented layout. */
export class DatasetError extends SlmiaError {
  readonly file: string;
  constructor(file: string, detail: string, options?: { cause?: unknown }) {
    super('dataset.invalid', `${file}: ${detail}`, options);
    this.file = file;
  }
}
