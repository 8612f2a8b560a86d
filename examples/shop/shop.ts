// The demo shop: which service serves which endpoints, whom each endpoint calls, and how slow
// and how flaky each endpoint is by default. A call graph with fan-out (frontend, checkout)
// and depth (front proxy → frontend → checkout → payment), one hop of it gRPC (checkout → payment).

export interface Call {
  service: string;
  method: 'GET' | 'POST';
  path: string;
  /** Call the endpoint's gRPC method (`/package.Service/Method`) instead of HTTP. */
  grpcMethod?: string;
}

export interface Endpoint {
  method: 'GET' | 'POST';
  path: string;
  /** Calls made in order, each through the local sidecar's egress port. */
  calls: Call[];
  /** Own work, milliseconds: a fixed part plus uniform jitter. */
  latencyMs: number;
  jitterMs: number;
  /** Percent of requests answered 503 by the service itself (UNAVAILABLE over gRPC). */
  errorPercent: number;
  /** Also served as this unary gRPC method, on the service's gRPC port. */
  grpcMethod?: string;
}

/** payment's charge as a gRPC method (raw JSON bytes for messages). */
export const PAYMENT_CHARGE = '/shop.Payment/Charge';

export type ShopService = 'frontend' | 'catalog' | 'cart' | 'checkout' | 'payment' | 'inventory';

export const SHOP: Readonly<Record<ShopService, readonly Endpoint[]>> = {
  frontend: [
    {
      method: 'GET',
      path: '/',
      calls: [
        { service: 'catalog', method: 'GET', path: '/products' },
        { service: 'cart', method: 'GET', path: '/cart' },
      ],
      latencyMs: 2,
      jitterMs: 2,
      errorPercent: 0,
    },
    {
      method: 'POST',
      path: '/checkout',
      calls: [
        { service: 'cart', method: 'GET', path: '/cart' },
        { service: 'checkout', method: 'POST', path: '/orders' },
      ],
      latencyMs: 3,
      jitterMs: 2,
      errorPercent: 0,
    },
  ],
  catalog: [
    {
      method: 'GET',
      path: '/products',
      calls: [{ service: 'inventory', method: 'GET', path: '/stock' }],
      latencyMs: 8,
      jitterMs: 6,
      errorPercent: 0,
    },
  ],
  cart: [{ method: 'GET', path: '/cart', calls: [], latencyMs: 4, jitterMs: 3, errorPercent: 0 }],
  checkout: [
    {
      method: 'POST',
      path: '/orders',
      calls: [
        { service: 'inventory', method: 'POST', path: '/reserve' },
        // The shop's gRPC hop: checkout charges through payment's gRPC port.
        { service: 'payment', method: 'POST', path: '/charge', grpcMethod: PAYMENT_CHARGE },
      ],
      latencyMs: 5,
      jitterMs: 3,
      errorPercent: 0,
    },
  ],
  payment: [
    {
      method: 'POST',
      path: '/charge',
      calls: [],
      latencyMs: 25,
      jitterMs: 20,
      errorPercent: 3,
      grpcMethod: PAYMENT_CHARGE,
    },
  ],
  inventory: [
    { method: 'GET', path: '/stock', calls: [], latencyMs: 3, jitterMs: 2, errorPercent: 0 },
    { method: 'POST', path: '/reserve', calls: [], latencyMs: 6, jitterMs: 4, errorPercent: 0 },
  ],
};

export const SHOP_SERVICES = Object.keys(SHOP) as ShopService[];

export function isShopService(name: string): name is ShopService {
  return Object.hasOwn(SHOP, name);
}

/** Every service-to-service call the shop can make, as `client->server` pairs (no duplicates). */
export function shopCallGraph(): Array<[string, string]> {
  const edges = new Set<string>();
  for (const service of SHOP_SERVICES)
    for (const e of SHOP[service]) for (const c of e.calls) edges.add(`${service}->${c.service}`);
  return [...edges].sort().map((e) => e.split('->') as [string, string]);
}
