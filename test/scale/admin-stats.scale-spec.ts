import { useScaleCluster } from '../helpers/scale-env';

const ADMIN = 'admin-token-for-scale-0123456789abcdef';

/**
 * The admin stats on PostgreSQL with more completed deliveries than one counting slice (20,000 index entries): the
 * count goes slice by slice, and a table that large is counted again at most once a minute, so the dashboard's
 * polls do not walk every delivery each time.
 */
describe('scale profile: admin stats of a large table', () => {
  const cluster = useScaleCluster({ ADMIN_TOKEN: ADMIN });

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
    const stats = async () => {
      const response = await fetch(`${app.url}/admin/deliveries/stats`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(response.status).toBe(200);
      return (await response.json()) as { by_status: Record<string, number>; completed_counted_at: string };
    };

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
});
