/**
 * The catalogue of errors tkmprom reports to its operator. Every error a user can meet carries a
 * stable code, so logs and scripts can match on it and the README can document it.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'TKM_CONFIG_INVALID',
  CONFIG_FILE_UNREADABLE: 'TKM_CONFIG_FILE_UNREADABLE',
  CONFIG_FILE_SYNTAX: 'TKM_CONFIG_FILE_SYNTAX',
  CLI_USAGE: 'TKM_CLI_USAGE',
  BROKER_UNREACHABLE: 'TKM_BROKER_UNREACHABLE',
  LISTEN_ADDRESS_IN_USE: 'TKM_LISTEN_ADDRESS_IN_USE',
  LISTEN_FAILED: 'TKM_LISTEN_FAILED',
  TLS_FILE_UNREADABLE: 'TKM_TLS_FILE_UNREADABLE',
  WEB_CONFIG_INVALID: 'TKM_WEB_CONFIG_INVALID',
  SCENARIO_INVALID: 'TKM_SCENARIO_INVALID',
  PASSWORD_FILE_INVALID: 'TKM_PASSWORD_FILE_INVALID',
  PROFILE_INVALID: 'TKM_PROFILE_INVALID',
  ACL_FILE_INVALID: 'TKM_ACL_FILE_INVALID',
  DATA_DIR_UNUSABLE: 'TKM_DATA_DIR_UNUSABLE',
  STATE_DIR_UNUSABLE: 'TKM_STATE_DIR_UNUSABLE',
  STATE_UNREADABLE: 'TKM_STATE_UNREADABLE',
  STATE_VERSION_UNKNOWN: 'TKM_STATE_VERSION_UNKNOWN',
  STATE_CONFIG_CHANGED: 'TKM_STATE_CONFIG_CHANGED',
  NATS_UNREACHABLE: 'TKM_NATS_UNREACHABLE',
  NATS_JETSTREAM_FAILED: 'TKM_NATS_JETSTREAM_FAILED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class TkmpromError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TkmpromError';
    this.code = code;
  }
}

export function isTkmpromError(err: unknown): err is TkmpromError {
  return err instanceof TkmpromError;
}
