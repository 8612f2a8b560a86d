// k6/html's Element: the DOM as methods (el.nodeName(), el.textContent(), el.querySelector()),
// and the element-specific accessors k6 derives from attributes (href() resolved against the
// page URL, value(), checked(), options()...), answered by a Proxy for names not defined here.
// Also the form helpers Selection and Element share (a field's value, a form's fields).
import type { CheerioAPI, Cheerio } from 'cheerio';
import type { AnyNode, Element as DomElement, Document } from 'domhandler';

/** A form's successful controls (or the given controls), in document order, as the browser submits them. */
export function formFields($: CheerioAPI, sel: Cheerio<AnyNode>): Array<{ name: string; value: string }> {
  const controls = sel.map((_, el) => ($(el).is('form') ? $(el).find('input,select,textarea,button').toArray() : el));
  const out: Array<{ name: string; value: string }> = [];
  for (const node of controls.toArray()) {
    if (node.type !== 'tag') continue;
    const el = node as DomElement;
    const name = el.attribs.name;
    if (name === undefined || name === '' || el.attribs.disabled !== undefined) continue;
    const type = (el.attribs.type ?? '').toLowerCase();
    if (el.name === 'button' || ['submit', 'button', 'reset', 'image', 'file'].includes(type)) continue;
    if ((type === 'checkbox' || type === 'radio') && el.attribs.checked === undefined) continue;
    const v = fieldValue($, el);
    if (Array.isArray(v)) for (const x of v) out.push({ name, value: x });
    else out.push({ name, value: v ?? '' });
  }
  return out;
}

export function fieldValue($: CheerioAPI, el: DomElement): string | string[] | undefined {
  if (el.name === 'select') {
    const selected = $(el).find('option[selected]');
    const pick = selected.length > 0 ? selected : $(el).find('option').first();
    const values = pick.toArray().map((o) => optionValue($, o as DomElement));
    return el.attribs.multiple !== undefined ? values : values[0];
  }
  if (el.name === 'textarea') return $(el).text();
  if (el.name === 'option') return optionValue($, el);
  const type = (el.attribs.type ?? '').toLowerCase();
  if (el.name === 'input' && (type === 'checkbox' || type === 'radio')) return el.attribs.value ?? 'on';
  return el.attribs.value ?? (el.name === 'input' ? '' : undefined);
}

function optionValue($: CheerioAPI, el: DomElement): string {
  return el.attribs.value ?? $(el).text().trim();
}

const NODE_TYPES: Record<string, number> = { tag: 1, script: 1, style: 1, text: 3, comment: 8, root: 9, directive: 10 };

/** Element accessors that k6 answers with a boolean (the attribute's presence). */
const BOOLEAN_ATTRS = new Set([
  'async',
  'autofocus',
  'autoplay',
  'checked',
  'controls',
  'default',
  'defer',
  'disabled',
  'formNoValidate',
  'hidden',
  'isMap',
  'loop',
  'multiple',
  'muted',
  'noValidate',
  'readOnly',
  'required',
  'reversed',
  'selected',
  'typeMustMatch',
]);
const NUMBER_ATTRS = new Set(['cols', 'colSpan', 'height', 'max', 'maxLength', 'min', 'rowSpan', 'rows', 'size']);
const NUMBER_ATTRS_DEFAULTS: Record<string, number> = { span: 1, start: 1, tabIndex: -1, width: 0, value: 0 };
const HREF_PARTS = new Set([
  'hash',
  'host',
  'hostname',
  'origin',
  'password',
  'pathname',
  'port',
  'protocol',
  'search',
  'username',
]);

export type ElementHandle = ElementImpl & Record<string, unknown>;

export function elementOf($: CheerioAPI, node: AnyNode, url: string | undefined): ElementHandle {
  return new Proxy(new ElementImpl($, node, url), elementTraps) as ElementHandle;
}

/** Element-specific accessors (href(), value(), checked()...) that k6 derives from attributes. */
const elementTraps: ProxyHandler<ElementImpl> = {
  get(target, key) {
    // 'then' stays undefined: an awaited element must not look like a promise.
    if (typeof key !== 'string' || key in target || key === 'then' || key === 'toJSON') {
      // Methods run on the target itself, whose private fields the proxy does not carry.
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    }
    return () => target.accessor(key);
  },
};

class ElementImpl {
  readonly #$: CheerioAPI;
  readonly node: AnyNode;
  readonly #url: string | undefined;

  constructor($: CheerioAPI, node: AnyNode, url: string | undefined) {
    this.#$ = $;
    this.node = node;
    this.#url = url;
  }

  #el(n: AnyNode | null | undefined): ElementHandle | undefined {
    return n === null || n === undefined ? undefined : elementOf(this.#$, n, this.#url);
  }
  #attribs(): Record<string, string> {
    return 'attribs' in this.node ? (this.node as DomElement).attribs : {};
  }
  #tag(): string {
    return this.node.type === 'tag' || this.node.type === 'script' || this.node.type === 'style'
      ? (this.node as DomElement).name
      : '';
  }
  #children(): AnyNode[] {
    return 'children' in this.node ? (this.node as DomElement).children : [];
  }
  #elements(): DomElement[] {
    return this.#children().filter((c): c is DomElement => NODE_TYPES[c.type] === 1);
  }

  /** A k6 element accessor not defined below: the attribute of that name, typed as k6 types it. */
  accessor(name: string): unknown {
    const attrs = this.#attribs();
    const attrName = name.toLowerCase();
    if (BOOLEAN_ATTRS.has(name)) return attrs[attrName] !== undefined;
    if (HREF_PARTS.has(name)) {
      const href = this.#resolved(attrs.href);
      if (href === undefined) return '';
      const u = new URL(href);
      return name === 'port' ? u.port : (u as unknown as Record<string, string>)[name];
    }
    if (name === 'href' || name === 'src' || name === 'action') return this.#resolved(attrs[attrName]) ?? '';
    if (NUMBER_ATTRS.has(name)) return Number(attrs[attrName] ?? 0);
    if (name in NUMBER_ATTRS_DEFAULTS && !(name === 'value' && this.#tag() !== 'progress' && this.#tag() !== 'li')) {
      const v = attrs[attrName];
      return v === undefined ? NUMBER_ATTRS_DEFAULTS[name] : Number(v);
    }
    if (name === 'value') return fieldValue(this.#$, this.node as DomElement) ?? '';
    if (name === 'text') return this.#$(this.node).text();
    if (name === 'relList') return (attrs.rel ?? '').split(/\s+/).filter(Boolean);
    if (name === 'type')
      return attrs.type ?? (this.#tag() === 'button' ? 'submit' : this.#tag() === 'input' ? 'text' : '');
    if (name === 'method') return (attrs.method ?? 'get').toLowerCase();
    if (name === 'enctype') return attrs.enctype ?? 'application/x-www-form-urlencoded';
    if (name === 'form') return this.#el(this.#$(this.node).closest('form').get(0));
    if (name === 'elements')
      return this.#$(this.node)
        .find('input,select,textarea,button,fieldset,output,object')
        .toArray()
        .map((n) => this.#el(n));
    if (name === 'options')
      return this.#$(this.node)
        .find('option')
        .toArray()
        .map((n) => this.#el(n));
    if (name === 'selectedOptions')
      return this.#$(this.node)
        .find('option[selected]')
        .toArray()
        .map((n) => this.#el(n));
    if (name === 'selectedIndex')
      return this.#$(this.node)
        .find('option')
        .toArray()
        .findIndex((o) => (o as DomElement).attribs.selected !== undefined);
    if (name === 'rows')
      return this.#$(this.node)
        .find('tr')
        .toArray()
        .map((n) => this.#el(n));
    if (name === 'cells')
      return this.#$(this.node)
        .children('td,th')
        .toArray()
        .map((n) => this.#el(n));
    if (name === 'length')
      return this.#tag() === 'form'
        ? (this.accessor('elements') as unknown[]).length
        : this.#$(this.node).text().length;
    if (name === 'label') return attrs.label ?? this.#$(this.node).text();
    if (name === 'index')
      return this.#$(this.node)
        .parent()
        .find('option')
        .toArray()
        .indexOf(this.node as DomElement);
    return attrs[attrName] ?? attrs[name] ?? '';
  }

  #resolved(v: string | undefined): string | undefined {
    if (v === undefined) return undefined;
    try {
      return new URL(v, this.#url).href;
    } catch {
      return v;
    }
  }

  attributes(): Record<
    string,
    {
      name: string;
      value: string;
      ownerElement: ElementHandle;
      localName(): string;
      namespaceURI(): string;
      prefix(): string;
    }
  > {
    const out: ReturnType<ElementImpl['attributes']> = {};
    const owner = elementOf(this.#$, this.node, this.#url);
    for (const [name, value] of Object.entries(this.#attribs())) {
      const colon = name.indexOf(':');
      out[name] = {
        name,
        value,
        ownerElement: owner,
        localName: () => (colon === -1 ? name : name.slice(colon + 1)),
        namespaceURI: () => '',
        prefix: () => (colon === -1 ? '' : name.slice(0, colon)),
      };
    }
    return out;
  }
  childElementCount(): number {
    return this.#elements().length;
  }
  childNodes(): ElementHandle[] {
    return this.#children().map((c) => this.#el(c)!);
  }
  children(): ElementHandle[] {
    return this.#elements().map((c) => this.#el(c)!);
  }
  classList(): string[] {
    return (this.#attribs().class ?? '').split(/\s+/).filter(Boolean);
  }
  className(): string | undefined {
    return this.#attribs().class;
  }
  contains(other: ElementImpl): boolean {
    for (let n: AnyNode | null = other.node; n !== null; n = n.parent) if (n === this.node) return true;
    return false;
  }
  firstChild(): ElementHandle | undefined {
    return this.#el(this.#children()[0]);
  }
  firstElementChild(): ElementHandle | undefined {
    return this.#el(this.#elements()[0]);
  }
  getAttribute(name: string): string | undefined {
    return this.#attribs()[name.toLowerCase()];
  }
  getAttributeNode(name: string): ReturnType<ElementImpl['attributes']>[string] | undefined {
    return this.attributes()[name.toLowerCase()];
  }
  getElementsByClassName(name: string): ElementHandle[] {
    return this.querySelectorAll(
      name
        .split(/\s+/)
        .filter(Boolean)
        .map((c) => `.${c}`)
        .join(''),
    );
  }
  getElementsByTagName(name: string): ElementHandle[] {
    return this.querySelectorAll(name);
  }
  hasAttribute(name: string): boolean {
    return this.#attribs()[name.toLowerCase()] !== undefined;
  }
  hasAttributes(): boolean {
    return Object.keys(this.#attribs()).length > 0;
  }
  hasChildNodes(): boolean {
    return this.#children().length > 0;
  }
  id(): string {
    return this.#attribs().id ?? '';
  }
  innerHTML(): string | undefined {
    return this.#$(this.node).html() ?? undefined;
  }
  isDefaultNamespace(): boolean {
    return true;
  }
  isEqualNode(other: ElementImpl): boolean {
    return this.#$.html(this.node) === this.#$.html(other.node);
  }
  isSameNode(other: ElementImpl): boolean {
    return this.node === other.node;
  }
  lang(): string | undefined {
    return this.#attribs().lang;
  }
  lastChild(): ElementHandle | undefined {
    return this.#el(this.#children().at(-1));
  }
  lastElementChild(): ElementHandle | undefined {
    return this.#el(this.#elements().at(-1));
  }
  matches(selector: string): boolean {
    return this.#$(this.node).is(selector);
  }
  namespaceURI(): string {
    return 'http://www.w3.org/1999/xhtml';
  }
  nextElementSibling(): ElementHandle | undefined {
    return this.#el(this.#$(this.node).next().get(0));
  }
  nextSibling(): ElementHandle | undefined {
    return this.#el(this.node.next);
  }
  nodeName(): string {
    const t = this.node.type;
    if (t === 'text') return '#text';
    if (t === 'comment') return '#comment';
    if (t === 'root') return '#document';
    return this.#tag();
  }
  nodeType(): number | undefined {
    return NODE_TYPES[this.node.type];
  }
  nodeValue(): string | undefined {
    return 'data' in this.node ? String((this.node as { data: unknown }).data) : undefined;
  }
  ownerDocument(): ElementHandle | undefined {
    let n: AnyNode = this.node;
    while (n.parent !== null) n = n.parent;
    return n.type === 'root' ? this.#el(n as Document) : undefined;
  }
  parentElement(): ElementHandle | undefined {
    const p = this.node.parent;
    return p !== null && NODE_TYPES[p.type] === 1 ? this.#el(p) : undefined;
  }
  parentNode(): ElementHandle | undefined {
    return this.#el(this.node.parent);
  }
  previousElementSibling(): ElementHandle | undefined {
    return this.#el(this.#$(this.node).prev().get(0));
  }
  previousSibling(): ElementHandle | undefined {
    return this.#el(this.node.prev);
  }
  querySelector(selector: string): ElementHandle | undefined {
    return this.#el(this.#$(this.node).find(selector).get(0));
  }
  querySelectorAll(selector: string): ElementHandle[] {
    return this.#$(this.node)
      .find(selector)
      .toArray()
      .map((n) => this.#el(n)!);
  }
  textContent(): string {
    return this.#$(this.node).text();
  }
  toString(): string {
    return `[object html.${this.#tag() === '' ? 'Node' : 'HTMLElement'}]`;
  }
}
