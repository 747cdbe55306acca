export * from './decode.js';
export * from './resample.js';
export * from './trim.js';
export * from './chunk.js';
export * from './load.js';
export * from './vad.js';
export * from './files.js';
