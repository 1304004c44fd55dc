import { AppProcess } from '../helpers/app-process';
import { useScaleCluster } from '../helpers/scale-env';

const ADMIN = 'admin-token-for-scale-0123456789abcdef';

/**
 * The admin API on PostgreSQL with more deliveries than one counting slice (20,000 index entries) and one bounded
 * list page (10,000 deliveries): the dashboard's polls never walk every delivery.
 */
describe('scale profile: the admin API on a large table', () => {
  const cluster = useScaleCluster({ ADMIN_TOKEN: ADMIN });
  const get = async <T>(app: AppProcess, path: string) => {
    const response = await fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  };

  it('counts 45,000 completed deliveries across slices, then answers from that count while it is fresh', async () => {
    const app = await cluster.start();
    const insert = (status: string, from: number, count: number, at: number) =>
      cluster.rows(
        `INSERT INTO webhook_deliveries (id, dedupe_key, channel_id, status, attempts, next_run_at, payload, signature_scheme, signature_secret_index, created_at, updated_at)
         SELECT $1 || g, $1 || g, $1 || g, $2, 1, $3::bigint + g / 3, '{}', 'raw', 0, $3::bigint + g, $3::bigint + g FROM generate_series($4::int, $5::int) AS g`,
        [`${status}-`, status, at, from, from + count - 1],
      );
    // Three deliveries a millisecond (g / 3): slices end inside runs of one next_run_at.
    await insert('completed', 1, 45_000, Date.now() - 60_000);
    await insert('dead', 1, 3, Date.now() - 60_000);
    const stats = () => get<{ by_status: Record<string, number>; completed_counted_at: string }>(app, '/admin/deliveries/stats');

    const before = Date.now();
    const first = await stats();
    expect(first.by_status).toEqual({ completed: 45_000, dead: 3 });
    expect(Date.parse(first.completed_counted_at)).toBeGreaterThanOrEqual(before - 1000);

    await insert('completed', 45_001, 10, Date.now());
    await insert('dead', 4, 1, Date.now());
    const second = await stats();
    // Deliveries of the other statuses are few and always counted; the large completed count is a minute's.
    expect(second.by_status).toEqual({ completed: 45_000, dead: 4 });
    expect(second.completed_counted_at).toBe(first.completed_counted_at);
  }, 60_000);

  it('lists a rare event among 45,000 deliveries page by page, each page reading at most 10,000 of them', async () => {
    const app = await cluster.start();
    const at = Date.now() - 60_000;
    await cluster.rows(
      `INSERT INTO webhook_deliveries (id, dedupe_key, channel_id, type, event, status, attempts, next_run_at, payload, signature_scheme, signature_secret_index, created_at, updated_at)
       SELECT 'd-' || g, 'd-' || g, 'd-' || g, 'task.ai_generated', CASE WHEN g = 7 THEN 'rare_event' ELSE 'content_ready' END, 'completed', 1,
              $1::bigint + g, '{}', 'raw', 0, $1::bigint + g / 3, $1::bigint + g / 3 FROM generate_series(1, 45000) AS g`,
      [at],
    );
    type Page = { items: { id: string }[]; next_cursor: string | null };
    const pages: Page[] = [];
    let cursor: string | null = '';
    while (cursor !== null && pages.length < 10) {
      const page: Page = await get<Page>(app, `/admin/deliveries?event=rare_event${cursor ? `&cursor=${cursor}` : ''}`);
      pages.push(page);
      cursor = page.next_cursor;
    }
    // The match is among the oldest: four full windows of 10,000 come first, then the last 5,000 with it.
    expect(pages.map((page) => page.items.map((item) => item.id))).toEqual([[], [], [], [], ['d-7']]);
  }, 60_000);
});
