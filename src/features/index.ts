export * from './names.js';
export * from './stats.js';
export * from './features.js';
