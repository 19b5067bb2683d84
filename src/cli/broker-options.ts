import type { BrokerOptions } from '../broker/index.js';
import type { Config, HostPort } from '../config/index.js';
import { ErrorCodes, TkmpromError } from '../errors.js';

/**
 * The broker's options from the config's one `broker` section, for `tkmprom broker` and for the
 * embedded broker of `run` and `demo` alike. `plain` is the plain MQTT listener (undefined for
 * none); `setting` names a setting as the user gave it (config's `settingName`: the flag as the
 * command spells it, the environment variable, or the file's key and line). Errors name it and
 * the config key.
 * Settings that only make sense together are checked here, each error naming both.
 */
export function brokerOptions(
  b: Config['broker'],
  plain: HostPort | undefined,
  setting: (key: keyof Config['broker']) => string,
): BrokerOptions {
  const invalid = (message: string) => new TkmpromError(ErrorCodes.CONFIG_INVALID, message);
  const name = (key: keyof Config['broker']) => {
    const given = setting(key);
    return key === 'listen' || given.startsWith(`broker.${key} `) ? given : `${given} (broker.${key})`;
  };
  const options: BrokerOptions = { drainTimeoutMs: b.drainTimeout, sysIntervalMs: b.sysInterval };
  if (plain !== undefined) options.listen = plain;
  if (b.tlsListen !== undefined) {
    if (b.tlsCert === undefined) throw invalid(`${name('tlsListen')} needs ${name('tlsCert')}`);
    if (b.tlsKey === undefined) throw invalid(`${name('tlsListen')} needs ${name('tlsKey')}`);
    options.tls = { ...b.tlsListen, certFile: b.tlsCert, keyFile: b.tlsKey };
    if (b.tlsCa !== undefined) options.tls.caFile = b.tlsCa;
    if (b.tlsRequireClientCert) {
      if (b.tlsCa === undefined) throw invalid(`${name('tlsRequireClientCert')} needs ${name('tlsCa')}`);
      options.tls.requestCert = true;
    }
  } else {
    for (const key of ['tlsCert', 'tlsKey', 'tlsCa'] as const) {
      if (b[key] !== undefined) throw invalid(`${name(key)} needs ${name('tlsListen')}`);
    }
    if (b.tlsRequireClientCert) throw invalid(`${name('tlsRequireClientCert')} needs ${name('tlsListen')}`);
  }
  if (b.wsListen !== undefined) {
    options.websocket = { ...b.wsListen };
    if (b.wsPath !== undefined) options.websocket.path = b.wsPath;
  } else if (b.wsPath !== undefined) {
    throw invalid(`${name('wsPath')} needs ${name('wsListen')}`);
  }
  if (!options.listen && !options.tls && !options.websocket) {
    throw invalid(
      `${name('listen')} off leaves no listener: add ${name('tlsListen')} or ${name('wsListen')}`,
    );
  }
  if (b.dataDir !== undefined) options.dataDir = b.dataDir;
  if (b.passwordFile !== undefined) options.passwordFile = b.passwordFile;
  if (b.aclFile !== undefined) options.aclFile = b.aclFile;
  if (b.maxConnections !== undefined) options.maxConnections = b.maxConnections;
  return options;
}

/** `tlsListen` → `tls-listen`. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
