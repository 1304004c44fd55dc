// The built app's ModelRiver sandbox in a process of its own, as ModelRiver is in production: the gateway bench
// then charges the app only for what it does itself (relay, fan-out, webhooks), not for the stand-in's work.
// Env: PORT, WEBHOOK_URL, API_KEY, WEBHOOK_SECRET, LATENCY_MS. Stops on SIGTERM.
'use strict';
const { ModelRiverSandbox } = require('../dist/sandbox/modelriver-sandbox');

const sandbox = new ModelRiverSandbox({
  port: Number(process.env.PORT),
  host: '127.0.0.1',
  apiKey: process.env.API_KEY,
  webhookSecret: process.env.WEBHOOK_SECRET,
  signatureScheme: 'raw',
  timeFactor: 1,
  latencyMs: Number(process.env.LATENCY_MS ?? 400),
  webhookUrl: () => process.env.WEBHOOK_URL,
  log: (message) => console.error(`sandbox: ${message}`),
});
sandbox.start().then(
  () => process.send?.('ready'),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
process.on('SIGTERM', () => void sandbox.stop().then(() => process.exit(0)));
