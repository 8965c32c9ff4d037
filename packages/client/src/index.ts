/**
 * @custodian/client — the TypeScript SDK for Custodian's HTTP API (docs/sdk.md).
 *
 * ```ts
 * const custodian = new Custodian({ url, token, ca })
 * const { value } = await custodian.secrets.get('stripe/api-key', { reason: 'charge a card' })
 * ```
 */
export { Custodian, type CustodianOptions, type Me } from './client.ts'
export {
  API_ERROR_CODES,
  CLIENT_ERROR_CODES,
  CustodianError,
  isCustodianError,
  type ApiErrorCode,
  type ClientErrorCode,
  type ErrorCode,
  type FieldProblem,
} from './errors.ts'
export type { RetryOptions } from './transport.ts'
export type { RevealedSecret, SecretMeta, SecretRef, Secrets, SecretType, SecretValue } from './secrets.ts'
export type { Transit, TransitKey, TransitOptions } from './transit.ts'
export type { DataRecord, NewRecord, RecordUpdate, Records } from './records.ts'
export type {
  ErasureCertificate,
  ErasureCertificatePage,
  NewPrivacyRequest,
  PageQuery,
  Privacy,
  PrivacyRequest,
  PrivacyRequestPage,
} from './privacy.ts'
export type {
  Consent,
  ConsentCacheOptions,
  ConsentCheck,
  ConsentDecision,
  ConsentEventInput,
  ConsentRecordResult,
  ConsentWithdrawInput,
  ConsentWithdrawResult,
  PreferencePageLink,
} from './consent.ts'
export type { Grant, GrantPage, GrantPolicy, GrantPolicyUpdate, GrantRequest, Grants } from './grants.ts'
export type { ServiceAccount, ServiceAccountPage, ServiceAccounts } from './service-accounts.ts'
export type {
  Audit,
  AuditEventPage,
  AuditQuery,
  AuditStatus,
  ChainedEvent,
  FollowOptions,
  IssuedViewerToken,
  ViewerTokenPage,
  ViewerTokenRequest,
  ViewerTokens,
} from './audit.ts'
export type {
  AppEvent,
  CloseResult,
  FlushResult,
  RecorderOptions,
  RecorderStats,
  UndeliverableEvent,
  WireEvent,
} from './audit-recorder.ts'
