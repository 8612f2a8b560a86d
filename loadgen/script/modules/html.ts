// k6/html: parseHTML and k6's Selection/Element API over cheerio (parse5, an HTML5 parser as
// k6's goquery is). Selection methods follow k6's: jQuery-like traversal, attr/text/html/val,
// each(index, Element), map(index, Selection), and form serialization. Element (html-element.ts) exposes the DOM
// as methods (el.nodeName(), el.textContent()), with element-specific accessors (href(),
// value(), checked()...) read from attributes as k6 does.
import { createRequire } from 'node:module';
import type { Cheerio, CheerioAPI } from 'cheerio';
import type { AnyNode, Element as DomElement } from 'domhandler';
import { type ElementHandle, elementOf, fieldValue, formFields } from './html-element.js';

type CheerioModule = { load: (html: string) => CheerioAPI };
let cheerioModule: CheerioModule | undefined;

/** Loads cheerio on first use: most scripts never parse HTML and it costs ~300 ms to load. */
function cheerio(): CheerioModule {
  cheerioModule ??= createRequire(import.meta.url)('cheerio') as CheerioModule;
  return cheerioModule;
}

type Tester = (index: number, sel: Selection) => unknown;

/** A set of nodes of one parsed document (k6's Selection). */
export class Selection {
  readonly #$: CheerioAPI;
  readonly #sel: Cheerio<AnyNode>;
  readonly #url: string | undefined;

  constructor($: CheerioAPI, sel: Cheerio<AnyNode>, url?: string) {
    this.#$ = $;
    this.#sel = sel;
    this.#url = url;
  }

  #wrap(sel: Cheerio<AnyNode>): Selection {
    return new Selection(this.#$, sel, this.#url);
  }

  #filterArg(arg: string | Tester | Selection): string | ((i: number, el: AnyNode) => boolean) | Cheerio<AnyNode> {
    if (typeof arg === 'string') return arg;
    if (arg instanceof Selection) return arg.#sel;
    if (typeof arg === 'function') return (i, el) => Boolean(arg(i, this.#wrap(this.#$(el))));
    throw new TypeError('expected a selector, a function or a Selection');
  }

  /** The document URL (set by res.html()), against which links and form actions resolve. */
  get url(): string | undefined {
    return this.#url;
  }

  get length(): number {
    return this.#sel.length;
  }

  attr(name: string, def?: string): string | undefined {
    return this.#sel.attr(name) ?? def;
  }
  children(selector?: string): Selection {
    return this.#wrap(selector === undefined ? this.#sel.children() : this.#sel.children(selector));
  }
  closest(selector: string): Selection {
    return this.#wrap(this.#sel.closest(selector));
  }
  contents(): Selection {
    return this.#wrap(this.#sel.contents());
  }
  data(key?: string): unknown {
    const first = this.#sel.first();
    if (first.length === 0) return undefined;
    return key === undefined ? first.data() : first.data(key);
  }
  each(fn: (index: number, el: ElementHandle) => unknown): Selection {
    const nodes = this.#sel.toArray();
    for (let i = 0; i < nodes.length; i++) if (fn(i, elementOf(this.#$, nodes[i]!, this.#url)) === false) break;
    return this;
  }
  eq(index: number): Selection {
    return this.#wrap(this.#sel.eq(index));
  }
  filter(arg: string | Tester | Selection): Selection {
    return this.#wrap(this.#sel.filter(this.#filterArg(arg) as string));
  }
  find(selector: string): Selection {
    return this.#wrap(this.#sel.find(selector));
  }
  first(): Selection {
    return this.#wrap(this.#sel.first());
  }
  get(index: number): ElementHandle | undefined {
    const node = this.#sel.get(index < 0 ? this.#sel.length + index : index);
    return node === undefined ? undefined : elementOf(this.#$, node, this.#url);
  }
  has(selector: string): Selection {
    return this.#wrap(this.#sel.has(selector));
  }
  html(): string | undefined {
    if (this.#sel.length === 0) return undefined;
    return this.#sel.first().html() ?? undefined;
  }
  is(arg: string | Tester | Selection): boolean {
    return this.#sel.is(this.#filterArg(arg) as string);
  }
  last(): Selection {
    return this.#wrap(this.#sel.last());
  }
  map(fn: Tester): unknown[] {
    const nodes = this.#sel.toArray();
    const out: unknown[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const v = fn(i, this.#wrap(this.#$(nodes[i]!)));
      if (v !== undefined && v !== null) out.push(v);
    }
    return out;
  }
  next(selector?: string): Selection {
    return this.#wrap(this.#sel.next(selector));
  }
  nextAll(selector?: string): Selection {
    return this.#wrap(this.#sel.nextAll(selector));
  }
  nextUntil(selector?: string, filter?: string): Selection {
    return this.#wrap(this.#sel.nextUntil(selector, filter));
  }
  not(arg: string | Tester): Selection {
    return this.#wrap(this.#sel.not(this.#filterArg(arg) as string));
  }
  parent(selector?: string): Selection {
    return this.#wrap(this.#sel.parent(selector));
  }
  parents(selector?: string): Selection {
    return this.#wrap(this.#sel.parents(selector));
  }
  parentsUntil(selector?: string, filter?: string): Selection {
    return this.#wrap(this.#sel.parentsUntil(selector, filter));
  }
  prev(selector?: string): Selection {
    return this.#wrap(this.#sel.prev(selector));
  }
  prevAll(selector?: string): Selection {
    return this.#wrap(this.#sel.prevAll(selector));
  }
  prevUntil(selector?: string, filter?: string): Selection {
    return this.#wrap(this.#sel.prevUntil(selector, filter));
  }
  serialize(): string {
    return new URLSearchParams(this.serializeArray().map((f): [string, string] => [f.name, f.value])).toString();
  }
  serializeArray(): Array<{ name: string; value: string }> {
    return formFields(this.#$, this.#sel);
  }
  serializeObject(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const { name, value } of this.serializeArray()) {
      const prev = out[name];
      if (prev === undefined) out[name] = value;
      else out[name] = Array.isArray(prev) ? [...prev, value] : [prev, value];
    }
    return out;
  }
  size(): number {
    return this.#sel.length;
  }
  slice(start: number, end?: number): Selection {
    return this.#wrap(this.#sel.slice(start, end));
  }
  text(): string {
    return this.#sel.text();
  }
  toArray(): Selection[] {
    return this.#sel.toArray().map((n) => this.#wrap(this.#$(n)));
  }
  val(): string | string[] | undefined {
    const first = this.#sel.first();
    const node = first.get(0);
    if (node === undefined || node.type !== 'tag') return undefined;
    return fieldValue(this.#$, node as DomElement);
  }
}

/** Parses a document; `url` (from res.html()) is the base that links and form actions resolve against. */
export function parseHTML(source: string, url?: string): Selection {
  const $ = cheerio().load(String(source));
  return new Selection($, $.root(), url);
}

export function createHtmlModule(): Record<string, unknown> {
  const mod: Record<string, unknown> = {
    parseHTML: (src: string) => parseHTML(src),
    Selection,
    NodeType: Object.freeze({ ElementNode: 1, TextNode: 3, CommentNode: 8, DocumentNode: 9, DoctypeNode: 10 }),
  };
  mod.default = mod;
  return mod;
}
