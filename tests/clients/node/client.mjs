// A long-running @kubernetes/client-node client for the client test: loads the kubeconfig once, then lists
// pods with the label selector mcsa-client=<label> every interval, printing `<unix time> ok <pods>` or
// `<unix time> fail <reason>` for each call. Exits 0 on SIGTERM or SIGINT.
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';

const { values: args } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    label: { type: 'string' },
    interval: { type: 'string', default: '2' },
  },
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

const kc = new k8s.KubeConfig();
kc.loadFromFile(args.kubeconfig);
const api = kc.makeApiClient(k8s.CoreV1Api);

// One line of at most 200 characters: the HTTP status where the server answered, then the error.
function reason(err) {
  let text = `${err?.name}: ${err?.message}`;
  if (err instanceof k8s.ApiException) {
    let status = {};
    try {
      status = typeof err.body === 'string' ? JSON.parse(err.body) : (err.body ?? {});
    } catch {} // not a Status object: the code alone
    text = `HTTP ${err.code} ${status.reason ?? ''}: ${status.message ?? ''}`;
  }
  return text.split(/\s+/).join(' ').slice(0, 200);
}

const now = () => Math.floor(Date.now() / 1000);
for (;;) {
  try {
    const pods = await api.listNamespacedPod({ namespace: args.namespace, labelSelector: `mcsa-client=${args.label}` });
    console.log(`${now()} ok ${pods.items.length}`);
  } catch (err) {
    console.log(`${now()} fail ${reason(err)}`);
  }
  await sleep(Number(args.interval) * 1000);
}
