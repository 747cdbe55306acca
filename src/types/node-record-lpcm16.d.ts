/** Types for node-record-lpcm16 1.x (the package ships none). */
declare module 'node-record-lpcm16' {
  import type { ChildProcess } from 'node:child_process';
  import type { Readable } from 'node:stream';

  export interface RecordOptions {
    sampleRate?: number;
    channels?: number;
    compress?: boolean;
    threshold?: number;
    thresholdStart?: number | null;
    thresholdEnd?: number | null;
    silence?: string;
    recorder?: 'sox' | 'rec' | 'arecord';
    endOnSilence?: boolean;
    audioType?: string;
    device?: string;
  }

  export interface Recording {
    readonly process: ChildProcess;
    stream(): Readable;
    stop(): void;
    pause(): void;
    resume(): void;
    isPaused(): boolean;
  }

  const recorder: { record(options?: RecordOptions): Recording };
  export default recorder;
}
