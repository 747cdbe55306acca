/**
 * Benchmark (issue 12, target 3): what onnxruntime's working memory costs in resident memory and in inference
 * time, for each allocator setting. One child process per variant (glibc reads its MALLOC_* variables at
 * start-up), each holding one session of the default target model; the parent sends the same query to every
 * child in turn (the order alternates per round), so inference times are paired per round.
 *
 * Queries mimic audits: batches of 2–20 voices of 2 s (fbank [n, 198, 80]) in a fixed shuffled order, with one
 * batch of 64 (a reference-bank query) after the first fifth. Per variant: inference time relative to the
 * first variant (median of per-round ratios), RSS after the session is created, after the batch of 64, at the
 * end, and the spread of the last half.
 *
 *   node --import=tsx bench/ort-memory.ts [--rounds 120]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL } from '../src/daemon/config.js';
import { projectRoot } from '../src/paths.js';
import { option } from './lib/args.js';
import { fmtIqr, load1, ratios, summarize } from './lib/paired.js';

interface Variant {
  name: string;
  arena: boolean;
  env: Record<string, string>;
}
const MMAP = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };
const VARIANTS: Variant[] = [
  { name: 'arena on, glibc defaults (before)', arena: true, env: { MALLOC_ARENA_MAX: '2' } },
  { name: 'arena off, glibc defaults', arena: false, env: { MALLOC_ARENA_MAX: '2' } },
  { name: 'arena off, mmap threshold 128 KiB', arena: false, env: MMAP },
  {
    name: 'arena off, mmap threshold 128 KiB, huge pages (the unit)',
    arena: false,
    env: { ...MMAP, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' },
  },
  {
    name: 'arena off, mmap threshold 4 MiB',
    arena: false,
    env: { ...MMAP, MALLOC_MMAP_THRESHOLD_: '4194304' },
  },
  { name: 'arena on, mmap threshold 128 KiB', arena: true, env: MMAP },
];

// ---- child: one session, answers {batch} with {ms, rss} ----
if (process.argv[2] === '--child') {
  const ort = await import('onnxruntime-node');
  const { sessionOptions } = await import('../src/model/speaker-model.js');
  const { readManifest } = await import('../src/model/manifest.js');
  const { onnxPath, manifest } = await readManifest(resolve(projectRoot, DEFAULT_MODEL));
  const session = await ort.InferenceSession.create(
    onnxPath,
    sessionOptions({ cpuMemArena: process.argv[3] === 'on', threads: 2 }),
  );
  const rss = (): number =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
  process.send?.({ ready: true, rss: rss() });
  process.on('message', async (m: { batch: number }) => {
    const data = new Float32Array(m.batch * 198 * 80);
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 4;
    const t = performance.now();
    await session.run({ [manifest.input.name]: new ort.Tensor('float32', data, [m.batch, 198, 80]) });
    process.send?.({ ms: performance.now() - t, rss: rss() });
  });
} else {
  const rounds = Number(option('--rounds', '120'));
  // Fixed pseudo-random batch sizes 2..20 (LCG), and a 64 after the first fifth.
  let seed = 12345;
  const batches = Array.from({ length: rounds }, (_, i) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return i === Math.floor(rounds / 5) ? 64 : 2 + (seed % 19);
  });
  const self = fileURLToPath(import.meta.url);
  const children: { v: Variant; c: ChildProcess; startRss: number }[] = [];
  for (const v of VARIANTS) {
    const c = fork(self, ['--child', v.arena ? 'on' : 'off'], {
      env: { ...process.env, ...v.env },
      execArgv: ['--import=tsx'],
    });
    const ready = await new Promise<{ rss: number }>((r) =>
      c.once('message', (m) => r(m as { rss: number })),
    );
    children.push({ v, c, startRss: ready.rss });
  }
  const ask = (c: ChildProcess, batch: number): Promise<{ ms: number; rss: number }> =>
    new Promise((r) => {
      c.once('message', (m) => r(m as { ms: number; rss: number }));
      c.send({ batch });
    });
  const ms: number[][] = children.map(() => []);
  const rss: number[][] = children.map(() => []);
  for (const c of children) for (const b of [10, 10, 10]) await ask(c.c, b); // warm-up
  for (const [r, b] of batches.entries()) {
    const order = children.map((_, i) => i);
    for (const i of r % 2 === 0 ? order : order.reverse()) {
      const got = await ask((children[i] as (typeof children)[number]).c, b);
      ms[i]?.push(got.ms / b); // per voice, so batch sizes mix fairly
      rss[i]?.push(got.rss);
    }
  }
  for (const { c } of children) c.kill();
  const i64 = batches.indexOf(64);
  const lines = [
    `Default target model, 2 intra-op threads, spinning off; ${rounds} paired rounds of batches of 2–20 voices (one of 64 at round ${i64 + 1}); load average ${load1()}.`,
    '',
    '| allocator setting | inference time vs the first row (median of per-round ratios, IQR) | RSS after session MB | after the batch of 64 | at the end | last half: min–max |',
    '|---|---|---|---|---|---|',
    ...children.map(({ v, startRss }, i) => {
      const r = rss[i] as number[];
      const half = r.slice(Math.floor(r.length / 2));
      return `| ${v.name} | ${fmtIqr(summarize(ratios(ms[i] as number[], ms[0] as number[])))} | ${startRss.toFixed(0)} | ${(r[i64] as number).toFixed(0)} | ${(r.at(-1) as number).toFixed(0)} | ${Math.min(...half).toFixed(0)}–${Math.max(...half).toFixed(0)} |`;
    }),
  ];
  console.log(lines.join('\n'));
}
