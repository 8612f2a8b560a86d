// The two services behind examples/front-proxy/envoy.yaml: each answers with its name, the
// path it saw and the request id the proxy assigned. Ports from SERVICE1_PORT/SERVICE2_PORT.
import { createServer } from 'node:http';

const services: Array<[string, number]> = [
  ['service1', Number(process.env.SERVICE1_PORT ?? 8001)],
  ['service2', Number(process.env.SERVICE2_PORT ?? 8002)],
];

for (const [name, port] of services) {
  createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(
      `Hello from behind the front proxy (${name})! path=${req.url} request-id=${req.headers['x-request-id'] ?? '-'}\n`,
    );
  }).listen(port, '127.0.0.1', () => process.stdout.write(`${name} listening on 127.0.0.1:${port}\n`));
}
