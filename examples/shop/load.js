// The shop's load scenario, written against k6's API (runs under `meshscope load` and k6):
// shoppers browse the storefront and now and then check out, through the front proxy.
//   npm run load                     20 s at 20 requests/s
//   meshscope load examples/shop/load.js -e BASE_URL=http://127.0.0.1:10000 --duration 1m
import http from 'k6/http';
import { check, group, sleep } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:10000';

export const options = {
  scenarios: {
    shoppers: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 20),
      timeUnit: '1s',
      duration: __ENV.DURATION || '20s',
      preAllocatedVUs: 10,
      maxVUs: 50,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.05'],
    'http_req_duration{name:browse}': ['p(95)<500'],
    'http_req_duration{name:checkout}': ['p(95)<1000'],
  },
};

export default function () {
  if (Math.random() < 0.7) {
    group('browse', () => {
      const res = http.get(`${BASE_URL}/`, { tags: { name: 'browse' } });
      check(res, { 'storefront answered 200': (r) => r.status === 200 });
    });
  } else {
    group('checkout', () => {
      const res = http.post(`${BASE_URL}/checkout`, JSON.stringify({ items: 1 }), {
        headers: { 'content-type': 'application/json' },
        tags: { name: 'checkout' },
      });
      check(res, { 'order placed': (r) => r.status === 200 });
    });
  }
  sleep(0.01);
}
