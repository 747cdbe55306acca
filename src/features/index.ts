export * from './names.js';
export * from './stats.js';
export * from './features.js';
export * from './voices.js';
export * from './embedding-cache.js';
export * from './embed-voices.js';
export * from './normalize.js';
export * from './calibrated.js';
