import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers/app-process';
import { launchChromium } from './chromium';
import { SandboxTestApp, startSandboxApp } from '../helpers/sandbox';

const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');
const STEPS = ['queued', 'ai_generated', 'processing', 'callback'];

/** The demo page in a real browser (system Chromium), against the real app and the sandbox. */
describe('demo page in Chromium', () => {
  let app: SandboxTestApp;
  let browser: Browser;
  let page: Page;

  const stepClasses = async () => Promise.all((await page.locator('#steps li').all()).map(async (li) => (await li.getAttribute('class')) ?? ''));
  const generate = async (prompt: string, workflow = 'content_generator') => {
    await page.fill('#prompt', prompt);
    await page.selectOption('#workflow', workflow);
    await page.click('#generate');
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    app = await startSandboxApp({ SANDBOX_LATENCY_MS: '300' });
    browser = await launchChromium();
  });
  beforeEach(async () => {
    page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    await page.goto(app.url);
  });
  afterEach(async () => {
    await page.close();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it.each([
    ['content_generator', 'Write about Grace Hopper and COBOL', '"slug": "write-about-grace-hopper-and-cobol"'],
    ['entity_extractor', 'Grace Hopper worked at Harvard with Howard Aiken', '"entities_validated"'],
  ])('generates with %s and shows every step, the processed result and the callback outcome', async (workflow, prompt, expected) => {
    await generate(prompt, workflow);
    await page.waitForSelector('#status:text("Completed")', { timeout: 15_000 });
    for (const step of STEPS) {
      expect(await page.getAttribute(`[data-step="${step}"]`, 'class')).toBe('done');
      expect(await page.textContent(`[data-step="${step}"] time`)).toMatch(/^\+\d+ ms$/);
    }
    expect(await page.textContent('#result')).toContain(expected);
    expect(await page.textContent('#callback')).toBe('Callback delivered: ModelRiver accepted the processed result (1 attempt, last answer HTTP 200)');
    await page.screenshot({ path: join(ARTIFACTS, `demo-${workflow}.png`), fullPage: true });
  });

  it('shows a standard workflow (no callback) as complete, with no callback needed', async () => {
    await generate('Summarise the history of computing', 'summarizer');
    await page.waitForSelector('#status:text("Completed")', { timeout: 15_000 });
    expect(await stepClasses()).toEqual(['done', 'done', 'done', 'done']);
    expect(await page.textContent('[data-step="callback"] .note')).toBe('(not required)');
    expect(await page.textContent('#callback')).toBe('No callback: this workflow does not call back');
  });

  it('wraps long result lines instead of cutting them', async () => {
    await generate(`Write about ${'supercalifragilistic'.repeat(12)} and the long words of ${'x'.repeat(150)}`);
    await page.waitForSelector('#status:text("Completed")', { timeout: 15_000 });
    const box = await page.evaluate<{ scroll: number; client: number }>(
      "(({ scrollWidth, clientWidth }) => ({ scroll: scrollWidth, client: clientWidth }))(document.getElementById('result'))",
    );
    expect(box.scroll).toBeLessThanOrEqual(box.client);
  });

  it('marks ModelRiver refusing the request on the first step', async () => {
    await app.control('/faults', { async_status: 503 });
    await generate('Write about a refused request');
    await page.waitForSelector('#status.error', { timeout: 15_000 });
    expect(await stepClasses()).toEqual(['failed', '', '', '']);
    expect(await page.textContent('#channel')).toBe('');
  });

  it('marks a processing failure on the processing step, with the error callback outcome', async () => {
    await app.control('/faults', { unusable_output: true });
    await generate('Write about nothing usable');
    await page.waitForSelector('#status.error', { timeout: 15_000 });
    expect(await stepClasses()).toEqual(['done', 'done', 'failed', '']);
    expect(await page.textContent('#status')).toMatch(/^Failed: .*title/);
    await page.waitForSelector('#callback:text("ModelRiver was told of the failure")');
    expect(await page.textContent('#result')).toBe('—');
    await page.screenshot({ path: join(ARTIFACTS, 'demo-processing-failed.png'), fullPage: true });
  });

  it('marks a rejected callback on the callback step, with the processed result still shown', async () => {
    await app.control('/faults', { callback_window_expired: true });
    await generate('Write about a window that closed');
    await page.waitForSelector('#status.error', { timeout: 15_000 });
    expect(await stepClasses()).toEqual(['done', 'done', 'done', 'failed']);
    expect(await page.textContent('#status')).toContain('callback answered 410');
    expect(await page.textContent('#result')).toContain('"slug": "write-about-a-window-that-closed"');
    // The sandbox, like ModelRiver, closes the request on the 410; the error callback then hears 409 (already closed).
    expect(await page.textContent('#callback')).toBe('Callback failed: the result did not get through; ModelRiver was told of the failure (2 attempts, last answer HTTP 409)');
    await page.screenshot({ path: join(ARTIFACTS, 'demo-callback-failed.png'), fullPage: true });
  });

  it('clears the previous attempt when a new one starts, and shows a clear message for bad input', async () => {
    await generate('Write about a first attempt');
    await page.waitForSelector('#status:text("Completed")', { timeout: 15_000 });
    expect(await page.textContent('#channel')).not.toBe('');

    await generate('   ');
    await page.waitForSelector('#status.error', { timeout: 10_000 });
    expect(await page.textContent('#status')).toBe('Failed: prompt must not be blank');
    expect(await stepClasses()).toEqual(['failed', '', '', '']);
    expect(await page.textContent('#channel')).toBe('');
    expect(await page.textContent('#result')).toBe('—');
    expect(await page.textContent('#callback')).toBe('');
  });
});
