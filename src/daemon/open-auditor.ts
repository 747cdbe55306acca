/**
 * Opens the real audit pipeline (src/audit/audit-speaker.ts) for the daemon: target model, attack bundle and
 * reference banks (and the bundle's reference models) are loaded once; reference embeddings are cached in the
 * daemon's SQLite database, the target-side null in `nulls/` beside it.
 */
import { dirname, resolve } from 'node:path';
import { auditClipStream, auditFiles, openAuditContext } from '../audit/audit-speaker.js';
import { configureOnnxRuntime } from '../model/index.js';
import { SqliteEmbeddingCache } from '../store/embedding-cache.js';
import type { Auditor, AuditorOptions } from './auditor.js';

/**
 * Load model + attack bundle + reference bank.
 * @throws ManifestError / ModelError / AttackBundleError / ReferenceBankError from the pipeline
 */
export async function openAuditor(o: AuditorOptions): Promise<Auditor> {
  if (o.runtime) configureOnnxRuntime(o.runtime);
  const ctx = await openAuditContext({
    modelPath: o.modelPath,
    attackPath: o.attackPath,
    cache: new SqliteEmbeddingCache(o.db),
    ...(o.dataDir !== undefined && { dataDir: o.dataDir }),
    // The target-side null (computed at the first start when the bundle ships none) is kept beside the database.
    ...(o.db.path !== ':memory:' && { nullCacheDir: resolve(dirname(o.db.path), 'nulls') }),
  });
  const m = ctx.model.manifest;
  return {
    info: {
      model: {
        name: m.name,
        architecture: m.architecture ?? 'unknown',
        sha256: ctx.model.sha256,
        sample_rate: m.sample_rate,
        min_seconds: m.min_seconds,
        path: ctx.model.manifestPath,
      },
      attack: { id: ctx.attackId, path: ctx.attackPath },
    },
    auditFiles: (speaker, paths) => auditFiles(ctx, speaker, paths),
    auditClips: (speaker, clips) => auditClipStream(ctx, speaker, clips),
    close: () => ctx.close(),
  };
}
