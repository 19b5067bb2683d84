import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCodes, TkmpromError } from '../errors.js';

/** True for a valid MQTT topic filter (wildcards `+` and `#` only as whole levels, `#` last). */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false;
    if (level.includes('+') && level !== '+') return false;
  }
  return true;
}

function startsWithDollar(level: string | undefined): boolean {
  return level?.startsWith('$') === true;
}

/**
 * True when every topic matched by `filter` is also matched by `pattern`. With a plain topic as
 * `filter` this is ordinary MQTT matching, so one function serves both publish checks (topic)
 * and subscribe checks (filter). As in MQTT, a pattern starting with a wildcard does not reach
 * topics starting with `$`.
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  if (startsWithDollar(f[0]) && (p[0] === '+' || p[0] === '#')) return false;
  for (let i = 0; ; i++) {
    if (i === p.length) return i === f.length;
    const pl = p[i]!;
    if (pl === '#') return true;
    if (i === f.length) return false;
    const fl = f[i]!;
    if (fl === '#') return false;
    if (pl === '+') continue;
    if (fl === '+' || pl !== fl) return false;
  }
}

export interface AclRules {
  publish: string[];
  subscribe: string[];
}

/**
 * Topic rules per user, and for anonymous clients: those that connected without a user name, or
 * every client of a broker without a password file (whose user names nobody verified).
 */
export class Acl {
  constructor(
    readonly users: ReadonlyMap<string, AclRules>,
    readonly anonymous: AclRules | undefined = undefined,
  ) {}

  private rulesOf(username: string | undefined): AclRules | undefined {
    return username === undefined ? this.anonymous : this.users.get(username);
  }

  canPublish(username: string | undefined, topic: string): boolean {
    return this.rulesOf(username)?.publish.some((p) => filterCovers(p, topic)) === true;
  }

  canSubscribe(username: string | undefined, filter: string): boolean {
    return this.rulesOf(username)?.subscribe.some((p) => filterCovers(p, filter)) === true;
  }
}

const filterSchema = z.string().refine(isValidTopicFilter, { message: 'not a valid MQTT topic filter' });
const rulesSchema = z
  .object({
    publish: z.array(filterSchema).nullish(),
    subscribe: z.array(filterSchema).nullish(),
  })
  .strict()
  .nullish();
const aclSchema = z
  .object({ anonymous: rulesSchema, users: z.record(z.string(), rulesSchema).nullish() })
  .strict();

export function parseAcl(text: string, source: string): Acl {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TkmpromError(ErrorCodes.ACL_FILE_INVALID, `ACL file ${source}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const result = aclSchema.safeParse(doc ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new TkmpromError(ErrorCodes.ACL_FILE_INVALID, `ACL file ${source}: ${where}: ${issue.message}`);
  }
  const toRules = (rules: z.infer<typeof rulesSchema>): AclRules => ({
    publish: rules?.publish ?? [],
    subscribe: rules?.subscribe ?? [],
  });
  const users = new Map<string, AclRules>();
  for (const [name, rules] of Object.entries(result.data.users ?? {})) users.set(name, toRules(rules));
  const anonymous = result.data.anonymous === undefined ? undefined : toRules(result.data.anonymous);
  return new Acl(users, anonymous);
}

export async function readAclFile(file: string): Promise<Acl> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TkmpromError(
      ErrorCodes.ACL_FILE_INVALID,
      `cannot read ACL file ${file}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return parseAcl(text, file);
}
