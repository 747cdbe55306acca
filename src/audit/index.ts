export * from './reference-bank.js';
export * from './audit-speaker.js';
export * from './lab-data.js';
export * from './calibrate.js';
export * from './evaluate.js';
export * from './report.js';
export * from './views.js';
