type Json = Record<string, unknown>;

export interface CheckOptions {
  /** `#/components/schemas/X` and other local refs resolve in this document. */
  root: Json;
  /**
   * Treat objects without `additionalProperties` as closed: the published document leaves them open
   * for clients, the tests close them so that an undocumented field fails.
   */
  closedObjects?: boolean;
}

const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', 'format', 'deprecated']);
const KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'enum',
  'const',
  'anyOf',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  '$ref',
]);

/**
 * Checks a value against the subset of JSON Schema 2020-12 the API's OpenAPI document uses, and
 * returns the problems found, each with its JSON path (empty when the value conforms). A keyword
 * outside the subset is itself a problem, so the document cannot quietly outgrow the checker.
 */
export function checkSchema(value: unknown, schema: unknown, opts: CheckOptions): string[] {
  const problems: string[] = [];
  check(value, schema, '$', opts, problems);
  return problems;
}

function check(value: unknown, schema: unknown, path: string, opts: CheckOptions, out: string[]): void {
  if (schema === true || schema === undefined) return;
  if (schema === false) {
    out.push(`${path}: not allowed`);
    return;
  }
  const s = schema as Json;
  for (const k of Object.keys(s)) {
    if (!KEYWORDS.has(k) && !ANNOTATIONS.has(k)) out.push(`${path}: schema keyword "${k}" is not supported`);
  }
  if (typeof s.$ref === 'string') check(value, resolve(s.$ref, opts.root), path, opts, out);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => isType(value, t))) {
      out.push(`${path}: expected ${types.join(' or ')}, got ${describe(value)}`);
      return;
    }
  }
  if (s.enum !== undefined && !(s.enum as unknown[]).some((e) => e === value)) {
    out.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  }
  if ('const' in s && s.const !== value) out.push(`${path}: expected ${JSON.stringify(s.const)}`);
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) out.push(`${path}: ${value} < ${s.minimum}`);
    if (typeof s.maximum === 'number' && value > s.maximum) out.push(`${path}: ${value} > ${s.maximum}`);
    if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum)
      out.push(`${path}: ${value} <= ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum)
      out.push(`${path}: ${value} >= ${s.exclusiveMaximum}`);
  }
  if (s.anyOf !== undefined) {
    const branches = s.anyOf as unknown[];
    const results = branches.map((b) => {
      const p: string[] = [];
      check(value, b, path, opts, p);
      return p;
    });
    if (!results.some((p) => p.length === 0)) {
      out.push(`${path}: matches none of anyOf (${results.map((p) => p[0]).join('; ')})`);
    }
  }
  if (Array.isArray(value) && s.items !== undefined) {
    for (let i = 0; i < value.length; i++) check(value[i], s.items, `${path}[${i}]`, opts, out);
  }
  if (isType(value, 'object')) checkObject(value as Json, s, path, opts, out);
}

function checkObject(value: Json, s: Json, path: string, opts: CheckOptions, out: string[]): void {
  const props = (s.properties ?? {}) as Json;
  for (const r of (s.required ?? []) as string[]) {
    if (!(r in value)) out.push(`${path}: missing required "${r}"`);
  }
  const hasShape = s.properties !== undefined || s.additionalProperties !== undefined;
  for (const [k, v] of Object.entries(value)) {
    const at = `${path}.${k}`;
    if (s.propertyNames !== undefined) check(k, s.propertyNames, `${at} (name)`, opts, out);
    if (k in props) check(v, props[k], at, opts, out);
    else if (s.additionalProperties !== undefined) check(v, s.additionalProperties, at, opts, out);
    else if (opts.closedObjects && hasShape) out.push(`${at}: not in the schema`);
  }
}

function resolve(ref: string, root: Json): unknown {
  if (!ref.startsWith('#/')) throw new Error(`only local $ref is supported: ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    node = (node as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    if (node === undefined) throw new Error(`unresolved $ref ${ref}`);
  }
  return node;
}

function isType(v: unknown, t: string): boolean {
  switch (t) {
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'array':
      return Array.isArray(v);
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    default:
      throw new Error(`unknown type ${t}`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' && Number.isInteger(v) ? `integer ${v}` : `${typeof v} ${JSON.stringify(v)}`;
}
