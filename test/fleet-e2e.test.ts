/**
 * The fleet end to end: a real Mosquitto, three real daemons (the embedded audit pipeline on the default target
 * model and attack bundle, device ids hub-1…3, base topics slmia/hub-N) and the fleet service.
 *  - Integration: audits requested through the page's API reach the hubs, and their verdicts (exactly those the
 *    daemons stored) appear in the fleet store and on the pages.
 *  - Real browser: Debian's chromium driven by playwright-core (executablePath; nothing downloaded) loads the
 *    overview, clicks into a hub, requests an audit with the form and sees the verdict appear live; a
 *    phone-sized viewport shows the same pages without horizontal scrolling; no console errors. Screenshots go
 *    to .work/fleet-browser/; `SLMIA_FLEET_SCREENSHOTS=docs` also refreshes the README's docs/fleet-*.png.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import type { Auditor } from '../src/daemon/auditor.js';
import { startDaemon, type Daemon } from '../src/daemon/controller.js';
import type { GroupSpeaker } from '../src/dataset/index.js';
import type { FleetService } from '../src/fleet/service.js';
import { projectRoot } from '../src/paths.js';
import { listAudits } from '../src/store/audits.js';
import { hasChromium, launchChromium, NO_CHROMIUM } from './helpers/browser.js';
import { groupSpeakers, NO_PIPELINE, openTestAuditor, testConfig } from './helpers/daemon.js';
import { startTestFleet, until } from './helpers/fleet.js';
import { Mosquitto, mosquittoBin, NO_MOSQUITTO } from './helpers/mosquitto.js';
import { withTool } from './helpers/tools.js';

/** Needs the speech data and models (else skipped) and Mosquitto (else skipped locally, failed in CI). */
const e2eTest = withTool(Boolean(mosquittoBin), NO_MOSQUITTO, NO_PIPELINE ? test.skip : test.serial);
/** …and chromium. */
const browserTest = withTool(hasChromium, NO_CHROMIUM, e2eTest);
const skip = NO_PIPELINE ?? (mosquittoBin ? undefined : NO_MOSQUITTO);

const MEMBER = 'SPEAKER0111';
const NONMEMBER = 'SPEAKER0006';
const HUBS = ['hub-1', 'hub-2', 'hub-3'];
const shots = resolve(projectRoot, '.work', 'fleet-browser');

interface Ctx {
  broker: Mosquitto;
  auditor: Auditor;
  closeAuditor: () => Promise<void>;
  daemons: Daemon[];
  fleet: FleetService;
  member: GroupSpeaker;
  nonmember: GroupSpeaker;
}
let ctx: Ctx | undefined;

test.before(async () => {
  if (skip) return;
  const broker = await Mosquitto.start();
  const { auditor, close } = await openTestAuditor();
  const daemons: Daemon[] = [];
  for (const id of HUBS)
    daemons.push(
      await startDaemon(
        testConfig({
          device_id: id,
          health_interval_s: 1,
          mqtt: { url: broker.url, base_topic: `slmia/${id}` },
        }),
        { auditor },
      ),
    );
  const fleet = await startTestFleet(broker.url, {
    mqtt: { topics: ['slmia/#'] },
    retention: { health_sample_s: 1 },
  });
  const member = (await groupSpeakers('target-member')).find((s) => s.speaker === MEMBER) as GroupSpeaker;
  const nonmember = (await groupSpeakers('target-nonmember')).find(
    (s) => s.speaker === NONMEMBER,
  ) as GroupSpeaker;
  ctx = { broker, auditor, closeAuditor: close, daemons, fleet, member, nonmember };
  await until(
    () =>
      HUBS.every(
        (id) => fleet.fleet.hubs.get(`slmia/${id}`)?.health && fleet.fleet.hubs.get(`slmia/${id}`)?.info,
      ),
    30_000,
    'three hubs online with info and health',
  );
});

test.after.always(async () => {
  if (!ctx) return;
  await ctx.fleet.stop();
  for (const d of ctx.daemons) await d.stop();
  await ctx.closeAuditor();
  await ctx.broker.stop();
});

/** The verdict the daemon stored for a transaction. */
async function daemonVerdict(d: Daemon, transaction: string) {
  const [a] = await listAudits(d.db, { transaction });
  return a;
}

e2eTest('audits requested from the API appear in the fleet store and on the pages', async (t) => {
  const c = ctx as Ctx;
  const cases = [
    { hub: 0, s: c.member, files: c.member.train.map((u) => u.path) },
    { hub: 1, s: c.nonmember, files: c.nonmember.heldout.slice(0, 10).map((u) => u.path) },
  ];
  const sent: { hub: number; speaker: string; transaction: string }[] = [];
  for (const k of cases) {
    const base = `slmia/${HUBS[k.hub]}`;
    const res = await fetch(`${c.fleet.url}/api/hubs/${encodeURIComponent(base)}/audits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ speaker: k.s.speaker, files: k.files }),
    });
    t.is(res.status, 202);
    sent.push({
      hub: k.hub,
      speaker: k.s.speaker,
      transaction: ((await res.json()) as { transaction: string }).transaction,
    });
  }
  for (const s of sent) {
    const base = `slmia/${HUBS[s.hub]}`;
    const tracked = await until(
      async () => {
        const a = await c.fleet.store.audit(base, s.transaction);
        return a?.status === 'ok' || a?.status === 'error' ? a : undefined;
      },
      180_000,
      `answer to ${s.transaction}`,
    );
    const stored = await daemonVerdict(c.daemons[s.hub] as Daemon, s.transaction);
    t.like(tracked, {
      status: 'ok',
      stage: 'answered',
      from_fleet: 1,
      speaker: s.speaker,
      verdict: stored?.verdict,
      probability: stored?.probability,
    });
    t.truthy(tracked.queued_at, 'progress events seen');
    const [latest] = (await c.fleet.store.speakers(base)).filter((v) => v.speaker === s.speaker);
    t.like(latest, {
      transaction_id: s.transaction,
      verdict: stored?.verdict,
      probability: stored?.probability,
      threshold: stored?.threshold,
      voices: stored?.voices,
      queries: stored?.queries,
      audited_at: stored?.audited_at,
    });
    const page = await (await fetch(`${c.fleet.url}/hubs/${encodeURIComponent(base)}`)).text();
    t.regex(
      page,
      new RegExp(
        `data-speaker="${s.speaker}">\\s*<th scope="row" data-label="Speaker"><a [^>]+>${s.speaker}</a></th>\\s*<td data-label="Verdict"><span class="verdict verdict-${stored?.verdict}">`,
      ),
    );
  }
  t.is((await daemonVerdict(c.daemons[0] as Daemon, sent[0]?.transaction as string))?.verdict, 'member');
  t.is((await daemonVerdict(c.daemons[1] as Daemon, sent[1]?.transaction as string))?.verdict, 'non-member');
  // The third hub audited nothing.
  t.is((await c.fleet.store.speakers('slmia/hub-3')).length, 0);
  const overview = await (await fetch(`${c.fleet.url}/`)).text();
  t.regex(overview, /3 hubs: <strong>3 online<\/strong>/);
  for (const id of HUBS) t.regex(overview, new RegExp(`<a href="/hubs/slmia%2F${id}">${id}</a>`));
  const metrics = await (await fetch(`${c.fleet.url}/metrics`)).text();
  t.regex(metrics, /^slmia_fleet_audits_total\{hub="slmia\/hub-1",verdict="member"\} 1$/m);
  t.regex(metrics, /^slmia_fleet_audit_duration_seconds_count [1-9]/m);
});

/** Collect console errors and uncaught page errors. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

async function noHorizontalScroll(t: ExecutionContext, page: Page, what: string): Promise<void> {
  const { scroll, inner } = (await page.evaluate(
    '({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth })',
  )) as { scroll: number; inner: number };
  t.true(scroll <= inner + 1, `${what}: page is ${scroll} px wide in a ${inner} px viewport`);
}

/** Save a screenshot under .work/fleet-browser/; `readme` ones also to $SLMIA_FLEET_SCREENSHOTS (docs/). */
async function screenshot(page: Page, name: string, fullPage = false, readme = false): Promise<void> {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, name), fullPage });
  const extra = process.env.SLMIA_FLEET_SCREENSHOTS;
  if (extra && readme) {
    mkdirSync(resolve(projectRoot, extra), { recursive: true });
    await page.screenshot({ path: resolve(projectRoot, extra, `fleet-${name}`), fullPage });
  }
}

browserTest(
  'real browser: overview → hub → request an audit → the verdict appears live; phone-sized',
  async (t) => {
    const c = ctx as Ctx;
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
      const page = await context.newPage();
      const errors = watchErrors(page);
      await page.goto(`${c.fleet.url}/`);
      const hubs = page.getByRole('table', { name: 'Hubs' });
      for (const id of HUBS)
        await t.notThrowsAsync(hubs.getByRole('link', { name: id, exact: true }).waitFor());
      t.is(await hubs.locator('tbody tr').count(), 3);
      t.regex(
        (await page.locator('#fleet-summary').textContent()) ?? '',
        /3 hubs: 3 online, 0 offline\. Broker: connected\./,
      );
      await page.locator('#live.ok').waitFor({ timeout: 10_000 });
      await screenshot(page, 'overview.png', false, true);

      await hubs.getByRole('link', { name: 'hub-3', exact: true }).click();
      await page.waitForURL(/\/hubs\/slmia%2Fhub-3$/);
      t.is(await page.getByRole('heading', { level: 1 }).textContent(), 'Hub hub-3');
      await page.locator('#live.ok').waitFor({ timeout: 10_000 });
      const form = page.getByRole('form', { name: 'Request an audit' });
      await form.getByLabel('Speaker id').fill(MEMBER);
      await form.getByLabel(/Audio files on the hub/).fill(c.member.train.map((u) => u.path).join('\n'));
      await form.getByRole('button', { name: 'Request audit' }).click();
      const status = page.locator('#audit-result');
      await status.filter({ hasText: /^Audit fleet-/ }).waitFor({ timeout: 15_000 });
      const transaction = (await status.getAttribute('data-transaction')) as string;
      t.regex(transaction, /^fleet-/);
      // Live: the audits row turns to the verdict without a reload, and the speaker appears.
      const row = page
        .getByRole('table', { name: 'Audits' })
        .locator(`tr[data-transaction="${transaction}"]`);
      await row.and(page.locator('[data-status="ok"]')).waitFor({ timeout: 180_000 });
      const stored = await daemonVerdict(c.daemons[2] as Daemon, transaction);
      t.is(stored?.status, 'ok');
      t.is((await row.locator('.verdict').textContent())?.trim(), stored?.verdict ?? undefined);
      await t.notThrowsAsync(
        status
          .filter({ hasText: new RegExp(`answered · ${stored?.verdict ?? '?'}`) })
          .waitFor({ timeout: 5000 }),
      );
      const speakerRow = page
        .getByRole('table', { name: 'Speakers' })
        .getByRole('row', { name: new RegExp(MEMBER) });
      await speakerRow.waitFor({ timeout: 10_000 });
      t.is((await speakerRow.locator('.verdict').textContent())?.trim(), stored?.verdict ?? undefined);
      t.is(
        (await speakerRow.locator('[data-label="Probability"]').textContent())?.trim(),
        (stored?.probability as number).toFixed(3),
      );
      // A history chart for the speaker was drawn (uPlot canvas) from the live point.
      await page.locator('#charts figure.chart canvas').first().waitFor({ timeout: 10_000 });
      t.is(page.url(), `${c.fleet.url}/hubs/slmia%2Fhub-3`, 'no reload');
      await screenshot(page, 'hub.png', true, true);
      t.deepEqual(errors, []);

      // Phone-sized: the same pages, one column, no horizontal scrolling, links still work.
      const phone = await browser.newContext({
        viewport: { width: 390, height: 844 },
        isMobile: true,
        hasTouch: true,
      });
      const p2 = await phone.newPage();
      const errors2 = watchErrors(p2);
      await p2.goto(`${c.fleet.url}/`);
      await p2.getByRole('link', { name: 'hub-1', exact: true }).waitFor();
      await noHorizontalScroll(t, p2, 'overview');
      await screenshot(p2, 'overview-phone.png');
      await p2.getByRole('link', { name: 'hub-1', exact: true }).tap();
      await p2.waitForURL(/hub-1$/);
      await p2.getByRole('button', { name: 'Request audit' }).waitFor();
      await noHorizontalScroll(t, p2, 'hub page');
      t.true(
        await p2
          .getByRole('table', { name: 'Speakers' })
          .getByRole('row', { name: new RegExp(MEMBER) })
          .isVisible(),
      );
      await screenshot(p2, 'hub-phone.png');
      t.deepEqual(errors2, []);
    } finally {
      await browser.close();
    }
  },
);
