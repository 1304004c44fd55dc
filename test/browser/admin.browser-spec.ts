import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers/app-process';
import { launchChromium } from './chromium';
import { CallbackSink } from '../helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from '../helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';

const ADMIN = 'admin-token-for-browser-0123456789';
const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');

/** The delivery browser in a real browser: sign in, browse and filter, open a delivery, replay, sign out. */
describe('admin dashboard in Chromium', () => {
  let app: TestApp;
  let sink: CallbackSink;
  let browser: Browser;
  let page: Page;
  const ids = { completed: '', dead: '', quarantined: '' };
  let deadChannel = '';

  const send = async (payload: Record<string, unknown>) => {
    const body = JSON.stringify(payload);
    const response = await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body });
    return ((await response.json()) as { delivery_id: string }).delivery_id;
  };
  const status = (id: string) => (app.db.prepare('SELECT status FROM webhook_deliveries WHERE id = ?').get(id) as { status: string }).status;
  const row = (id: string) => `#deliveries tr[data-id="${id}"]`;
  const visibleIds = async () => Promise.all((await page.locator('#deliveries tbody tr').all()).map((tr) => tr.getAttribute('data-id')));
  /** Waits until the table has exactly n rows. */
  const rowCount = async (n: number) => {
    const rows = page.locator('#deliveries tbody tr');
    await rows.nth(n - 1).waitFor({ state: 'attached' });
    await rows.nth(n).waitFor({ state: 'detached' });
  };
  const focused = (property: 'id' | 'aria-label') => page.evaluate(`document.activeElement && document.activeElement.getAttribute('${property}')`);

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    sink = await new CallbackSink().start();
    app = await startTestApp({ ADMIN_TOKEN: ADMIN });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });

    ids.completed = await send(aiGeneratedPayload({ callbackBase: sink.url }));
    const dead = aiGeneratedPayload({ callbackBase: sink.url });
    deadChannel = dead.channel_id as string;
    sink.script(deadChannel, 400, 200);
    ids.dead = await send(dead);
    const invalid = aiGeneratedPayload({ callbackBase: sink.url });
    delete invalid.type;
    ids.quarantined = await send(invalid);
    await waitFor('the deliveries to settle', () => (status(ids.completed) === 'completed' && status(ids.dead) === 'dead' ? true : undefined));
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await sink?.close();
  });

  it('refuses a wrong token and keeps the sign-in form', async () => {
    await page.goto(`${app.url}/admin`);
    expect(await focused('id')).toBe('token');
    await page.fill('#token', 'wrong-token');
    await page.press('#token', 'Enter');
    await page.waitForSelector('#message:text("401")');
    expect(await page.isVisible('#login')).toBe(true);
    expect(await page.isVisible('#dashboard')).toBe(false);
  });

  it('lists every delivery newest first with counts, reasons, and Replay only where it can succeed', async () => {
    await page.fill('#token', ADMIN);
    await page.click('#connect');
    await page.waitForSelector(row(ids.quarantined));
    expect(await page.isVisible('#login')).toBe(false);
    expect(await page.isVisible('#sign-out')).toBe(true);
    expect(await visibleIds()).toEqual([ids.quarantined, ids.dead, ids.completed]);
    expect(await page.textContent('#counts button[data-status="all"]')).toBe('all: 3');
    expect(await page.textContent('#counts button[data-status="dead"]')).toBe('dead: 1');
    expect(await page.getAttribute('#counts button[data-status="completed"]', 'title')).toMatch(/^completed deliveries counted \S/);

    expect(await page.textContent(`${row(ids.dead)} td.reason`)).toContain('callback answered 400');
    expect(await page.$(`${row(ids.dead)} button.replay`)).not.toBeNull();
    expect(await page.textContent(`${row(ids.quarantined)} td.reason`)).toBe('type is required');
    expect(await page.$(`${row(ids.quarantined)} button.replay`)).toBeNull();
    expect(await page.textContent(`${row(ids.quarantined)} td.actions`)).toContain('no replay: still invalid: type is required');
    expect(await page.$(`${row(ids.completed)} button.replay`)).toBeNull();
    await page.screenshot({ path: join(ARTIFACTS, 'admin-list.png'), fullPage: true });
  });

  it('filters by status (count buttons) and searches by channel id', async () => {
    await page.click('#counts button[data-status="dead"]');
    await rowCount(1);
    expect(await visibleIds()).toEqual([ids.dead]);
    expect(await page.getAttribute('#counts button[data-status="dead"]', 'aria-pressed')).toBe('true');

    await page.click('#f-clear');
    await rowCount(3);
    await page.fill('#f-search', deadChannel);
    await page.press('#f-search', 'Enter');
    await rowCount(1);
    expect(await visibleIds()).toEqual([ids.dead]);

    await page.fill('#f-search', 'no-such-channel');
    await page.press('#f-search', 'Enter');
    await page.waitForSelector('#empty:visible');
    expect(await page.textContent('#empty')).toBe('No delivery matches.');
    await page.click('#f-clear');
    await rowCount(3);
  });

  it('opens a delivery from the keyboard: payload, callback timeline, and focus back on close', async () => {
    await page.focus(`${row(ids.dead)} button.open`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#detail:visible');
    expect(await focused('id')).toBe('detail');
    expect(await page.textContent('#detail-title')).toBe(`Delivery ${ids.dead}`);
    expect(JSON.parse((await page.textContent('#detail-payload')) ?? '')).toMatchObject({ channel_id: deadChannel });
    expect(await page.textContent('#detail-reason')).toContain('callback answered 400');
    const timeline = await page.locator('#detail-attempts li').allTextContents();
    expect(timeline).toHaveLength(2);
    expect(timeline[0]).toMatch(/result #1: final, HTTP 400, \d+ ms/);
    expect(timeline[1]).toMatch(/error #1: delivered, HTTP 200/);
    expect(await page.isVisible('#detail-replay')).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'admin-detail.png'), fullPage: true });

    await page.click('#close-detail');
    expect(await page.isVisible('#detail')).toBe(false);
    expect(await focused('aria-label')).toBe(`Open delivery ${ids.dead}`);
  });

  it('shows validation errors of a quarantined delivery', async () => {
    await page.click(`${row(ids.quarantined)} button.open`);
    await page.waitForSelector(`#detail-title:text("${ids.quarantined}")`);
    expect(await page.locator('#detail-errors li').allTextContents()).toEqual(['type is required']);
    expect(await page.isVisible('#detail-replay')).toBe(false);
    expect(await page.textContent('#detail-replay-result')).toContain('no replay: still invalid');
    await page.click('#close-detail');
  });

  it('replays the dead delivery with the result on its row', async () => {
    await page.click(`${row(ids.dead)} button.replay`);
    await page.waitForSelector(`${row(ids.dead)} .replay-result:text("Replayed (was dead): queued again")`);
    expect(await page.$(`${row(ids.dead)} button.replay`)).toBeNull();
    await waitFor('the replayed delivery to complete', () => (status(ids.dead) === 'completed' ? true : undefined));
    expect(sink.for(deadChannel).map((r) => r.body.error ?? 'result')).toEqual(['result', 'processing_failed', 'result']);
  });

  it('refreshes by itself: a new delivery appears without a click, and the replay result stays on its row', async () => {
    const fresh = await send(aiGeneratedPayload({ callbackBase: sink.url }));
    await page.waitForSelector(`${row(fresh)}[data-status="completed"]`, { timeout: 12_000 });
    expect((await visibleIds())[0]).toBe(fresh);
    expect(await page.textContent(`${row(ids.dead)} .replay-result`)).toBe('Replayed (was dead): queued again');
    expect(await page.getAttribute(row(ids.dead), 'data-status')).toBe('completed');
  }, 20_000);

  it('a delivery whose callback is being retried: the list counts failed attempts, the detail shows each and the result waiting', async () => {
    const retried = aiGeneratedPayload({ callbackBase: sink.url });
    const channel = retried.channel_id as string;
    // Enough 503s to keep the run retrying for the rest of this test (the pauses grow past 10 s).
    sink.script(channel, ...Array.from({ length: 20 }, () => 503));
    const id = await send(retried);
    await waitFor('three callback attempts', () => (sink.for(channel).length >= 3 ? true : undefined));
    // The list says how many attempts failed so far (plural: at least two, once a refresh has seen them), where a
    // settled row says its callback status.
    await page.waitForSelector(`${row(id)}[data-status="processing"] td.callback:text-matches("^[0-9]+ attempts failed so far$")`, { timeout: 12_000 });
    const failedSoFar = /^(\d+) attempts failed so far$/.exec((await page.textContent(`${row(id)} td.callback`)) ?? '');
    expect(Number(failedSoFar?.[1])).toBeGreaterThanOrEqual(2);
    expect(await page.textContent(`${row(ids.completed)} td.callback`)).toBe('delivered');
    await page.click(`${row(id)} button.open`);
    await page.waitForSelector(`#detail-title:text("${id}")`);
    expect(await page.textContent('#detail-result')).toBe('(processed; stored once the callback has an outcome: see the attempts below)');
    const timeline = await page.locator('#detail-attempts li').allTextContents();
    expect(timeline.length).toBeGreaterThanOrEqual(2);
    expect(timeline[0]).toMatch(/result #1: retryable, HTTP 503, \d+ ms, callback answered 503/);
    expect(status(id)).toBe('processing');
    await page.click('#close-detail');
  }, 20_000);

  it('signs out: the token is forgotten and the data is gone from the page', async () => {
    await page.click('#sign-out');
    expect(await page.isVisible('#login')).toBe(true);
    expect(await page.isVisible('#dashboard')).toBe(false);
    expect(await page.evaluate("sessionStorage.getItem('adminToken')")).toBeNull();
    expect(await page.$$('#deliveries tbody tr')).toHaveLength(0);
    await page.reload();
    expect(await page.isVisible('#login')).toBe(true);
  });
});
