// Load balancers, rebuilt whenever a cluster's hosts or their health change (so picking never
// filters): priority levels get Envoy's overprovisioned load split (factor 1.4) with panic
// mode below `healthy_panic_threshold`, optional locality-weighted picking inside a priority,
// then the cluster's policy over the host list: ROUND_ROBIN (smooth weighted), LEAST_REQUEST
// (power of N choices), RANDOM (weighted), RING_HASH (ketama-style ring) and MAGLEV (lookup table).
import type { Host } from './host.js';
import type { ZoneRoutingPlan } from './zone-aware.js';

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';

export interface LbSettings {
  readonly policy: LbPolicy;
  readonly choiceCount: number;
  readonly minRingSize: number;
  readonly maxRingSize: number;
  readonly maglevTableSize: number;
  /** Percent; below this share of healthy hosts a priority level balances across all its hosts. */
  readonly panicThreshold: number;
  readonly localityWeighted: boolean;
  /** Envoy's overprovisioning factor, in percent (default 140). */
  readonly overprovisioningFactor: number;
}

/** 32-bit FNV-1a with a murmur3 finaliser: cheap, well spread, stable across processes. */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface HostPicker {
  pick(hashKey: number): Host;
}

class RoundRobinPicker implements HostPicker {
  readonly #hosts: Host[];
  #next: number;
  readonly #weights: number[] | null;
  readonly #current: number[];
  readonly #total: number;

  constructor(hosts: Host[]) {
    this.#hosts = hosts;
    // Envoy starts each worker at a random offset so workers do not hit hosts in lock-step.
    this.#next = Math.floor(Math.random() * hosts.length);
    const w = hosts.map((h) => h.description.weight);
    const uniform = w.every((x) => x === w[0]);
    this.#weights = uniform ? null : w;
    this.#current = hosts.map(() => 0);
    this.#total = w.reduce((a, b) => a + b, 0);
  }

  pick(): Host {
    const hosts = this.#hosts;
    if (this.#weights === null) {
      const h = hosts[this.#next]!;
      this.#next = this.#next + 1 === hosts.length ? 0 : this.#next + 1;
      return h;
    }
    // Smooth weighted round robin (nginx's algorithm): deterministic and evenly interleaved.
    let best = 0;
    for (let i = 0; i < hosts.length; i++) {
      this.#current[i]! += this.#weights[i]!;
      if (this.#current[i]! > this.#current[best]!) best = i;
    }
    this.#current[best]! -= this.#total;
    return hosts[best]!;
  }
}

class RandomPicker implements HostPicker {
  readonly #hosts: Host[];
  readonly #cumulative: number[];
  readonly #total: number;

  constructor(hosts: Host[]) {
    this.#hosts = hosts;
    let acc = 0;
    this.#cumulative = hosts.map((h) => (acc += h.description.weight));
    this.#total = acc;
  }

  pick(): Host {
    const r = Math.random() * this.#total;
    const c = this.#cumulative;
    for (let i = 0; i < c.length; i++) if (r < c[i]!) return this.#hosts[i]!;
    return this.#hosts[this.#hosts.length - 1]!;
  }
}

class LeastRequestPicker implements HostPicker {
  readonly #hosts: Host[];
  readonly #choices: number;
  readonly #weighted: boolean;

  constructor(hosts: Host[], choices: number) {
    this.#hosts = hosts;
    this.#choices = Math.max(2, choices);
    this.#weighted = !hosts.every((h) => h.description.weight === hosts[0]!.description.weight);
  }

  pick(): Host {
    const hosts = this.#hosts;
    if (hosts.length === 1) return hosts[0]!;
    let best = hosts[Math.floor(Math.random() * hosts.length)]!;
    for (let i = 1; i < this.#choices; i++) {
      const candidate = hosts[Math.floor(Math.random() * hosts.length)]!;
      if (this.#score(candidate) < this.#score(best)) best = candidate;
    }
    return best;
  }

  #score(h: Host): number {
    // Envoy's weighted variant divides by weight (active_request_bias 1.0).
    return this.#weighted ? (h.stats.rq_active + 1) / h.description.weight : h.stats.rq_active;
  }
}

class RingHashPicker implements HostPicker {
  readonly #ring: Uint32Array;
  readonly #owners: Host[];

  constructor(hosts: Host[], minSize: number, maxSize: number) {
    const total = hosts.reduce((a, h) => a + h.description.weight, 0);
    const minNormalized = Math.min(...hosts.map((h) => h.description.weight / total));
    // Envoy scales so the lightest host gets at least one entry, within [min, max] ring size.
    const scale = Math.min(Math.ceil(minNormalized * minSize) / minNormalized, maxSize);
    const entries: Array<[number, Host]> = [];
    for (const h of hosts) {
      const count = Math.max(1, Math.round((h.description.weight / total) * scale));
      for (let i = 0; i < count; i++) entries.push([hashString(`${h.addressString}_${i}`), h]);
    }
    entries.sort((a, b) => a[0] - b[0]);
    this.#ring = Uint32Array.from(entries.map((e) => e[0]));
    this.#owners = entries.map((e) => e[1]);
  }

  pick(hashKey: number): Host {
    const key = hashKey < 0 ? Math.floor(Math.random() * 0x100000000) : hashKey;
    const ring = this.#ring;
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === ring.length ? 0 : lo]!;
  }
}

class MaglevPicker implements HostPicker {
  readonly #table: Host[];

  constructor(hosts: Host[], size: number) {
    const table: Array<Host | undefined> = new Array(size);
    const maxWeight = Math.max(...hosts.map((h) => h.description.weight));
    const state = hosts.map((h) => ({
      host: h,
      offset: hashString(h.addressString, 0x9747b28c) % size,
      skip: (hashString(h.addressString, 0x5bd1e995) % (size - 1)) + 1,
      next: 0,
      credit: 0,
      share: h.description.weight / maxWeight,
    }));
    let filled = 0;
    while (filled < size) {
      for (const s of state) {
        s.credit += s.share;
        if (s.credit < 1) continue;
        s.credit -= 1;
        let slot = (s.offset + s.next * s.skip) % size;
        while (table[slot] !== undefined) {
          s.next++;
          slot = (s.offset + s.next * s.skip) % size;
        }
        table[slot] = s.host;
        s.next++;
        if (++filled === size) break;
      }
    }
    this.#table = table as Host[];
  }

  pick(hashKey: number): Host {
    const key = hashKey < 0 ? Math.floor(Math.random() * 0x100000000) : hashKey;
    return this.#table[key % this.#table.length]!;
  }
}

function createPicker(hosts: Host[], s: LbSettings): HostPicker {
  switch (s.policy) {
    case 'ROUND_ROBIN':
      return new RoundRobinPicker(hosts);
    case 'LEAST_REQUEST':
      return new LeastRequestPicker(hosts, s.choiceCount);
    case 'RANDOM':
      return new RandomPicker(hosts);
    case 'RING_HASH':
      return new RingHashPicker(hosts, s.minRingSize, s.maxRingSize);
    case 'MAGLEV':
      return new MaglevPicker(hosts, s.maglevTableSize);
  }
}

interface Level {
  readonly picker: HostPicker | null;
  readonly localities: ReadonlyArray<{ cumulative: number; picker: HostPicker }>;
  readonly localityTotal: number;
}

function availability(healthy: number, total: number, factor: number): number {
  return total === 0 ? 0 : Math.min(100, (factor * 100 * healthy) / total);
}

export class LoadBalancer {
  readonly #levels: Level[] = [];
  readonly #cumulativeLoad: number[] = [];
  readonly #localityWeighted: boolean;
  #zone: ZoneRoutingPlan | null = null;
  #zonePickers: HostPicker[] = [];

  /** `byPriority[p]` = hosts of priority p. */
  /** `zone`: zone-aware routing over priority 0's healthy hosts (never in panic mode). */
  // Priority loads and panic follow Envoy's LoadBalancerBase (source/common/upstream/load_balancer_impl.cc).
  constructor(byPriority: ReadonlyArray<readonly Host[]>, s: LbSettings, zone: ZoneRoutingPlan | null = null) {
    this.#localityWeighted = s.localityWeighted;
    const healthyByLevel = byPriority.map((hosts) => hosts.filter((h) => h.healthy()));
    const health = byPriority.map((hosts, i) =>
      availability(healthyByLevel[i]!.length, hosts.length, s.overprovisioningFactor),
    );
    // Envoy's normalized total availability: the levels' availabilities summed, capped at 100.
    const total = Math.min(
      100,
      health.reduce((a, b) => a + b, 0),
    );
    for (let i = 0; i < byPriority.length; i++) {
      const hosts = byPriority[i]!;
      const healthy = healthyByLevel[i]!;
      // Envoy (recalculatePerPriorityPanic): nothing available puts P=0 alone in panic; when the
      // levels together are 100% available no level panics, whatever its own share; otherwise a
      // level panics below healthy_panic_threshold (0 turns panic mode off).
      const panic =
        s.panicThreshold > 0 &&
        (total === 0
          ? i === 0
          : total < 100 && hosts.length > 0 && (healthy.length * 100) / hosts.length < s.panicThreshold);
      if (zone !== null && i === 0 && !panic) {
        this.#zone = zone;
        this.#zonePickers = zone.localities.map((l) => createPicker([...l], s));
      }
      this.#levels.push(this.#buildLevel(panic ? [...hosts] : healthy, s, hosts));
    }
    // Envoy (distributeLoad): each level takes its availability scaled by 100 / total, in
    // priority order, until the 100% is given out; with nothing available all goes to P=0.
    let remaining = 100;
    let acc = 0;
    for (let i = 0; i < health.length; i++) {
      const load = total === 0 ? (i === 0 ? 100 : 0) : Math.min(remaining, (health[i]! * 100) / total);
      remaining -= load;
      acc += load;
      this.#cumulativeLoad.push(acc);
    }
  }

  /** `all`: every host of the level, healthy or not, for Envoy's per-locality availability. */
  #buildLevel(usable: Host[], s: LbSettings, all: readonly Host[]): Level {
    if (usable.length === 0) return { picker: null, localities: [], localityTotal: 0 };
    if (!s.localityWeighted) return { picker: createPicker(usable, s), localities: [], localityTotal: 0 };
    const groups = new Map<string, Host[]>();
    for (const h of usable) {
      const l = h.description.locality;
      const key = `${l.region}/${l.zone}/${l.subZone}`;
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = []));
      g.push(h);
    }
    const totals = new Map<string, number>();
    for (const h of all) {
      const l = h.description.locality;
      const key = `${l.region}/${l.zone}/${l.subZone}`;
      totals.set(key, (totals.get(key) ?? 0) + 1);
    }
    let acc = 0;
    const localities: Array<{ cumulative: number; picker: HostPicker }> = [];
    for (const [key, hosts] of groups) {
      // Envoy scales a locality's weight by its availability: min(1, factor × healthy / total).
      const availability = Math.min(1, (s.overprovisioningFactor * hosts.length) / (totals.get(key) ?? hosts.length));
      const w = hosts[0]!.description.localityWeight * availability;
      if (w === 0) continue;
      acc += w;
      localities.push({ cumulative: acc, picker: createPicker(hosts, s) });
    }
    return { picker: createPicker(usable, s), localities, localityTotal: acc };
  }

  /** `hashKey` is the route's hash policy result (uint32) or -1 for none. */
  chooseHost(hashKey: number): Host | null {
    let level = this.#levels[0];
    if (this.#levels.length > 1) {
      const r = hashKey >= 0 ? hashKey % 100 : Math.random() * 100;
      for (let i = 0; i < this.#cumulativeLoad.length; i++) {
        if (r < this.#cumulativeLoad[i]!) {
          level = this.#levels[i];
          break;
        }
      }
    }
    if (level === undefined || level.picker === null) return null;
    if (this.#zone !== null && level === this.#levels[0]) {
      const i = this.#zone.pickLocality();
      if (i >= 0) return this.#zonePickers[i]!.pick(hashKey);
    }
    if (this.#localityWeighted && level.localities.length > 0) {
      const r = Math.random() * level.localityTotal;
      for (const l of level.localities) if (r < l.cumulative) return l.picker.pick(hashKey);
    }
    return level.picker.pick(hashKey);
  }
}
