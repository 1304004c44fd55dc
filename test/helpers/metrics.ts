/**
 * One sample of an app's `/metrics`: `series` as Prometheus writes it, name and labels
 * (e.g. 'modelriver_webhooks_total{outcome="refused",reason="backlog"}'); undefined when the series is absent.
 */
export async function metricSample(baseUrl: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
