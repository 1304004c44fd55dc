import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { startTestApp, TestApp } from '../helpers/create-test-app';
import { TEST_SECRET } from '../helpers/sign-webhook';

/**
 * Promise 3 under fire: 10,000 generated requests against the running app. Never a 5xx, never a crash,
 * nothing stored without a valid signature, quarantine only for authentic bodies.
 */
const report = { cases: 0, statuses: new Map<number, number>(), fiveXX: 0 };

const hmac = (body: Buffer | string) => createHmac('sha256', TEST_SECRET).update(body).digest('hex');

/** Raw HTTP (not fetch): any bytes, any header values Node lets through, no client-side normalisation. */
function send(app: TestApp, body: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${app.url}/webhooks/modelriver`, { method: 'POST', headers: { 'content-length': String(body.length), ...headers } });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function probe(app: TestApp, body: Buffer, headers: Record<string, string>): Promise<number> {
  const status = await send(app, body, headers);
  report.cases++;
  report.statuses.set(status, (report.statuses.get(status) ?? 0) + 1);
  if (status >= 500) report.fiveXX++;
  return status;
}

const deep = (depth: number, open: string, close: string) => open.repeat(depth) + close.repeat(depth);

/** Bodies a hostile or broken sender might send. */
const hostileBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((bytes) => Buffer.from(bytes)),
  fc.json().map((text) => Buffer.from(text)),
  fc.constantFrom(
    deep(10_000, '[', ']'),
    deep(10_000, '{"a":', '}').replace(/}$/, '1}'),
    `"${'x'.repeat(200_000)}"`,
    '1e999999',
    '9'.repeat(10_000),
    '{"type":"task.ai_generated","type":"task.completed","channel_id":"a","channel_id":"b"}',
    '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
    '',
    'null',
  ).map((text) => Buffer.from(text)),
  fc.json().map((text) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.concat([Buffer.from('{"type":"'), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from(bytes), Buffer.from('"}')])),
);

const printable = fc.string({ unit: fc.constantFrom(...' !#$%&*+-.0123456789=ABCDEFabcdefghijklmnopqrstuvwxyz_;/'.split('')), maxLength: 80 });
const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 64, maxLength: 64 });

const contentType = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'APPLICATION/JSON', ''),
  printable,
);

/** Header sets: none, forged, malformed, the other family, odd encodings. Never a valid signature. */
const forgedHeaders = fc.record(
  {
    'content-type': contentType,
    'mr-signature': fc.oneof(hex64, printable, hex64.map((h) => `sha256=${h}`), hex64.map((h) => h.toUpperCase())),
    'x-modelriver-signature': fc.oneof(hex64, printable),
    'x-modelriver-timestamp': fc.oneof(fc.integer({ min: 0 }).map(String), printable),
    'content-encoding': fc.constantFrom('gzip', 'identity', 'br', 'deflate'),
    'x-request-id': printable,
  },
  { requiredKeys: [] },
);

describe('hostile input against the running app', () => {
  let app: TestApp;
  const rows = () => (app.db.prepare('SELECT COUNT(*) AS n FROM webhook_deliveries').get() as { n: number }).n;

  beforeAll(async () => {
    app = await startTestApp({ WEBHOOK_MAX_BODY_BYTES: '262144' });
  });
  afterAll(async () => {
    await app.close();
    const statuses = [...report.statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`).join(' ');
    process.stdout.write(`\nhostile input: ${report.cases} cases, statuses ${statuses}, 5xx: ${report.fiveXX}\n`);
  });

  it('without a valid signature: never a 5xx, nothing stored (6,000 cases)', async () => {
    const before = rows();
    await fc.assert(
      fc.asyncProperty(hostileBody, forgedHeaders, async (body, headers) => {
        const status = await probe(app, body, headers);
        return status >= 400 && status < 500;
      }),
      { numRuns: 6000 },
    );
    expect(rows()).toBe(before);
  });

  it('authentic but arbitrary bodies: 200, 202 (quarantined) or 400, never a 5xx; quarantine only for these (3,000 cases)', async () => {
    await fc.assert(
      fc.asyncProperty(hostileBody, async (body) => {
        const status = await probe(app, body, { 'content-type': 'application/json', 'mr-signature': hmac(body) });
        return [200, 202, 400, 413].includes(status);
      }),
      { numRuns: 3000 },
    );
    // Every quarantined row came from a signed request: the unsigned property above stored nothing at all.
    const quarantined = app.db.prepare("SELECT signature_scheme FROM webhook_deliveries WHERE status = 'quarantined'").all() as { signature_scheme: string }[];
    expect(quarantined.length).toBeGreaterThan(0);
    expect(quarantined.every((row) => row.signature_scheme === 'raw')).toBe(true);
  });

  it('header fuzz around a valid body and signature: never a 5xx (1,000 cases)', async () => {
    const body = Buffer.from('{"type":"task.completed","status":"success","channel_id":"fuzz-1","data":{}}');
    await fc.assert(
      fc.asyncProperty(forgedHeaders, fc.boolean(), async (headers, keepSignature) => {
        const status = await probe(app, body, keepSignature ? { ...headers, 'mr-signature': hmac(body) } : headers);
        return status < 500;
      }),
      { numRuns: 1000 },
    );
  });

  it('the app is alive and unpolluted afterwards', async () => {
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(report.cases).toBeGreaterThanOrEqual(10_000);
    expect(report.fiveXX).toBe(0);
  });
});
