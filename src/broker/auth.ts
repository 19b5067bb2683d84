import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import { ErrorCodes, TkmpromError } from '../errors.js';
import type { Logger } from '../log.js';
import { type Acl, readAclFile } from './acl.js';
import type { BrokerCounters } from './counters.js';
import { hashPassword, readPasswordFile, verifyPassword } from './passwords.js';
import { limitedLog, SYS_PREFIX } from './types.js';

const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const NOT_AUTHORIZED = 5;

function refusal(message: string, returnCode: number): AuthenticateError {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode as AuthenticateError['returnCode'];
  return err;
}

/**
 * Per-user rules need verified user names: without a password file every client is anonymous, so
 * a `users` section would silently grant nothing. With one, an `anonymous` section applies to no one.
 */
function checkAclFits(acl: Acl, file: string, hasPasswordFile: boolean, log: Logger): void {
  if (!hasPasswordFile && acl.users.size > 0) {
    throw new TkmpromError(
      ErrorCodes.ACL_FILE_INVALID,
      `ACL file ${file}: users (${[...acl.users.keys()].join(', ')}) need a password file to verify their ` +
        'names: set broker.passwordFile, or put the rules under "anonymous:" for every client',
    );
  }
  if (hasPasswordFile && acl.anonymous !== undefined) {
    log.warn(
      { aclFile: file },
      "the ACL's anonymous rules apply to no one: with a password file every client logs in",
    );
  }
}

/**
 * Who may connect, publish and subscribe: the password file (logins remembered as a keyed MAC),
 * the ACL, the client id rules of MQTT-3.1.3-8 and the reserved `$SYS/` topics. Its methods are
 * aedes' hooks of the same names; `reload` re-reads both files, keeping the old ones on error.
 */
export class BrokerAuth {
  private credentials: Map<string, string> | undefined;
  private acl: Acl | undefined;
  // Successful logins are remembered as a keyed MAC, so a fleet reconnecting at once does not pay
  // one scrypt per device; the MAC covers the stored hash, so a changed password invalidates it.
  private readonly macKey = randomBytes(32);
  private readonly verifiedLogins = new Map<string, Buffer>();
  private dummyHash: Promise<string> | undefined;
  private readonly clientUsers = new WeakMap<object, string>();
  private readonly identifierRejected = new WeakSet<object>();
  /** Publishes acknowledged but not to be routed: the broker's publish skips them. */
  readonly deniedPackets = new WeakSet<object>();
  private readonly logRefusal = limitedLog(20);
  private readonly logDenial = limitedLog(20);

  private constructor(
    private readonly files: { passwordFile?: string; aclFile?: string },
    private readonly counters: BrokerCounters,
    private readonly log: Logger,
  ) {}

  static async load(
    files: { passwordFile?: string; aclFile?: string },
    counters: BrokerCounters,
    log: Logger,
  ): Promise<BrokerAuth> {
    const auth = new BrokerAuth(files, counters, log);
    auth.credentials = await auth.readCredentials();
    auth.acl = await auth.readAcl();
    return auth;
  }

  get passwordsRequired(): boolean {
    return this.credentials !== undefined;
  }

  private readCredentials(): Promise<Map<string, string> | undefined> {
    const file = this.files.passwordFile;
    return file !== undefined ? readPasswordFile(file) : Promise.resolve(undefined);
  }

  private async readAcl(): Promise<Acl | undefined> {
    const file = this.files.aclFile;
    if (file === undefined) return undefined;
    const acl = await readAclFile(file);
    checkAclFits(acl, file, this.files.passwordFile !== undefined, this.log);
    return acl;
  }

  async reload(): Promise<void> {
    const credentials = await this.readCredentials();
    const acl = await this.readAcl();
    this.credentials = credentials;
    this.acl = acl;
    this.verifiedLogins.clear();
    this.log.info({ users: credentials?.size, aclUsers: acl?.users.size }, 'password and ACL files reloaded');
  }

  private async checkLogin(username: string | undefined, password: Buffer | undefined): Promise<boolean> {
    const credentials = this.credentials;
    if (!credentials) return true;
    if (username === undefined || password === undefined) return false;
    const encoded = credentials.get(username);
    if (encoded === undefined) {
      // Same cost as a real check, so response time does not reveal which usernames exist.
      this.dummyHash ??= hashPassword(randomBytes(16));
      await verifyPassword(password, await this.dummyHash);
      return false;
    }
    const mac = createHmac('sha256', this.macKey).update(encoded).update('\0').update(password).digest();
    const known = this.verifiedLogins.get(username);
    if (known && timingSafeEqual(known, mac)) return true;
    const ok = await verifyPassword(password, encoded);
    if (ok) this.verifiedLogins.set(username, mac);
    return ok;
  }

  /** From preConnect: remembers a client whose CONNECT has a client id MQTT does not allow. */
  checkClientId(client: Client, packet: ConnectPacket): void {
    // MQTT-3.1.3-8: a zero-length client id only with a clean session, which then gets an id
    // assigned (aedes does that); MQTT 3.1 requires 1 to 23 characters. Refused in authenticate,
    // the first step that can answer with a CONNACK return code.
    if (!packet.clientId && (!packet.clean || packet.protocolVersion === 3)) {
      this.identifierRejected.add(client);
    }
  }

  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    callback: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    if (this.identifierRejected.has(client)) {
      this.logRefusal(() =>
        this.log.warn('connection refused: a zero-length client id needs a clean session (MQTT-3.1.3-8)'),
      );
      callback(refusal('identifier rejected', IDENTIFIER_REJECTED), null);
      return;
    }
    this.checkLogin(username, password).then(
      (ok) => {
        if (ok) {
          // Without a password file a user name is whatever the client claims: it stays anonymous.
          if (this.credentials && username !== undefined) this.clientUsers.set(client, username);
          callback(null, true);
          return;
        }
        this.logRefusal(() =>
          this.log.warn({ clientId: client.id, username }, 'connection refused: wrong username or password'),
        );
        callback(refusal('not authorized', NOT_AUTHORIZED), null);
      },
      (err: unknown) => {
        this.log.error({ err }, 'password check failed');
        callback(refusal('server unavailable', SERVER_UNAVAILABLE), null);
      },
    );
  }

  authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    callback: (error?: Error | null) => void,
  ): void {
    if (packet.topic.startsWith(SYS_PREFIX)) {
      callback(new Error(`${SYS_PREFIX} topics are reserved`));
      return;
    }
    const acl = this.acl;
    if (!client || !acl || acl.canPublish(this.clientUsers.get(client), packet.topic)) {
      callback(null);
      return;
    }
    // Acknowledged but not routed (MQTT-3.3.5-2 allows either this or disconnecting): a device
    // that is disconnected for a forbidden publish would reconnect and repeat it forever.
    this.deniedPackets.add(packet);
    this.counters.publishesDenied++;
    this.logDenial(() =>
      this.log.warn(
        { clientId: client.id, username: this.clientUsers.get(client), topic: packet.topic },
        'publish dropped: not allowed by the ACL',
      ),
    );
    callback(null);
  }

  authorizeSubscribe(
    client: Client,
    sub: Subscription,
    callback: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const acl = this.acl;
    if (!acl || acl.canSubscribe(this.clientUsers.get(client), sub.topic)) {
      callback(null, sub);
      return;
    }
    this.counters.subscriptionsDenied++;
    this.logDenial(() =>
      this.log.warn(
        { clientId: client.id, username: this.clientUsers.get(client), topic: sub.topic },
        'subscription refused: not allowed by the ACL',
      ),
    );
    callback(null, null);
  }
}
