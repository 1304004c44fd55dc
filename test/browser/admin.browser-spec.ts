import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser } from 'playwright-core';
import { REPO_ROOT } from '../helpers/app-process';
import { launchChromium } from './chromium';
import { CallbackSink } from '../helpers/callback-sink';
import { startTestApp, TestApp, waitFor } from '../helpers/create-test-app';
import { aiGeneratedPayload, signedHeaders } from '../helpers/sign-webhook';

const ADMIN = 'admin-token-for-browser-0123456789';

/** The operations dashboard in a real browser: log in, see counts and failures, replay a dead delivery. */
describe('admin dashboard in Chromium', () => {
  let app: TestApp;
  let sink: CallbackSink;
  let browser: Browser;

  beforeAll(async () => {
    sink = await new CallbackSink().start();
    app = await startTestApp({ ADMIN_TOKEN: ADMIN });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await sink?.close();
  });

  it('shows counts and the dead delivery, and replays it to completion', async () => {
    const payload = aiGeneratedPayload({ callbackBase: sink.url });
    sink.script(payload.channel_id as string, 400, 200);
    const body = JSON.stringify(payload);
    const answer = (await (await fetch(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: signedHeaders(body), body })).json()) as { delivery_id: string };
    const status = () => (app.db.prepare('SELECT status FROM webhook_deliveries WHERE id = ?').get(answer.delivery_id) as { status: string }).status;
    await waitFor('the delivery to die', () => (status() === 'dead' ? true : undefined));

    const page = await browser.newPage();
    try {
      await page.goto(`${app.url}/admin`);
      await page.fill('#token', 'wrong-token');
      await page.click('#connect');
      await page.waitForSelector('#message:text("401")');
      await page.fill('#token', ADMIN);
      await page.click('#connect');
      await page.waitForSelector('#counts li[data-status="dead"]');
      expect(await page.textContent('#counts li[data-status="dead"]')).toBe('dead: 1');
      const row = `#failures tr[data-id="${answer.delivery_id}"]`;
      expect(await page.textContent(row)).toContain('callback answered 400');
      mkdirSync(join(REPO_ROOT, 'test', 'artifacts'), { recursive: true });
      await page.screenshot({ path: join(REPO_ROOT, 'test', 'artifacts', 'admin-dashboard.png'), fullPage: true });
      await page.click(`${row} button.replay`);
      await page.waitForSelector(`#message:text("Replayed ${answer.delivery_id}")`);
      await waitFor('the replayed delivery to complete', () => (status() === 'completed' ? true : undefined));
      expect(sink.for(payload.channel_id as string).map((r) => r.body.error ?? 'result')).toEqual(['result', 'processing_failed', 'result']);
    } finally {
      await page.close();
    }
  });
});
