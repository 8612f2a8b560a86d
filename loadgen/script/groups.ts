// The group tree (k6's root_group): per group, its checks' pass/fail counts and its subgroups.
// Paths are k6's `::outer::inner` (root is '').

export interface CheckCounts {
  readonly name: string;
  readonly path: string;
  passes: number;
  fails: number;
}

export interface GroupNode {
  readonly name: string;
  readonly path: string;
  readonly groups: Map<string, GroupNode>;
  readonly checks: Map<string, CheckCounts>;
}

export class GroupTree {
  readonly root: GroupNode = { name: '', path: '', groups: new Map(), checks: new Map() };
  readonly #byPath = new Map<string, GroupNode>([['', this.root]]);
  /** Called once per new group (the full summary gives each group its own metric views). */
  onGroup: ((path: string) => void) | null = null;

  group(parentPath: string, name: string): GroupNode {
    // Found through the parent's children by name: a group() in a loop builds no path string
    // (whose hash V8 would compute anew for each lookup).
    const parent = this.#byPath.get(parentPath) ?? this.root;
    const found = parent.groups.get(name);
    if (found !== undefined) return found;
    const path = `${parentPath}::${name}`;
    const node: GroupNode = { name, path, groups: new Map(), checks: new Map() };
    parent.groups.set(name, node);
    this.#byPath.set(path, node);
    this.onGroup?.(path);
    return node;
  }

  check(groupPath: string, name: string): CheckCounts {
    const g = this.#byPath.get(groupPath) ?? this.root;
    let c = g.checks.get(name);
    if (c === undefined) {
      c = { name, path: `${groupPath}::${name}`, passes: 0, fails: 0 };
      g.checks.set(name, c);
    }
    return c;
  }
}
