import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser } from 'playwright-core';
import { REPO_ROOT } from '../helpers/app-process';
import { launchChromium } from './chromium';
import { SandboxTestApp, startSandboxApp } from '../helpers/sandbox';

const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');

/** The demo page in a real browser (system Chromium), against the real app and the sandbox. */
describe('demo page in Chromium', () => {
  let app: SandboxTestApp;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    app = await startSandboxApp({ SANDBOX_LATENCY_MS: '300' });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it.each([
    ['content_generator', 'Write about Grace Hopper and COBOL', '"slug": "write-about-grace-hopper-and-cobol"'],
    ['entity_extractor', 'Grace Hopper worked at Harvard with Howard Aiken', '"entities_validated"'],
  ])('generates with %s and shows every step and the processed result', async (workflow, prompt, expected) => {
    const page = await browser.newPage();
    try {
      await page.goto(app.url);
      await page.fill('#prompt', prompt);
      await page.selectOption('#workflow', workflow);
      await page.click('#generate');
      await page.waitForSelector('#status:text("Completed")', { timeout: 15_000 });
      for (const step of ['queued', 'ai_generated', 'processing', 'completed']) {
        expect(await page.getAttribute(`[data-step="${step}"]`, 'class')).toBe('done');
        expect(await page.textContent(`[data-step="${step}"] time`)).toMatch(/^\+\d+ ms$/);
      }
      const result = await page.textContent('#result');
      expect(result).toContain(expected);
      await page.screenshot({ path: join(ARTIFACTS, `demo-${workflow}.png`), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('shows a clear error for bad input', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(app.url);
      await page.fill('#prompt', '   ');
      await page.click('#generate');
      await page.waitForSelector('#status.error', { timeout: 10_000 });
      expect(await page.textContent('#status')).toContain('prompt must not be blank');
    } finally {
      await page.close();
    }
  });
});
