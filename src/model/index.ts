export * from './manifest.js';
export * from './speaker-model.js';
export * from './embed-files.js';
export * from './layout.js';
export * from './window.js';
export * from './pipeline.js';
export * from './frontend-cache.js';
