/**
 * The broker's SDK for Node (sdk/README.md): the third-party backend's client (sign, get and open
 * an AT, the H5 URL, introspect, revoke, typed errors) and the VT verifier for product backends
 * and partner servers.
 */
export { BrokerClient, BrokerError, basicCredential, h5PageUrl, isBrokerError, retryable } from './broker-client.ts';
export type { AccessToken, AccessTokenRequest, BrokerClientOptions, BrokerErrorCode, Introspection } from './broker-client.ts';
export { createVisitTokenVerifier, VerifierUnavailable, VisitTokenRejected } from './vt-verifier.ts';
export type { VisitTokenVerifier, VisitTokenVerifierOptions } from './vt-verifier.ts';
export { PROBLEMS, PROBLEM_CODES, isProblemCode } from '../protocol/problems.ts';
export type { ProblemBody, ProblemCode } from '../protocol/problems.ts';
