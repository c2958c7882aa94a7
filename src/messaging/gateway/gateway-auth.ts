import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a peer proves (answering the gateway's nonce) and what the gateway proves back (answering the peer's): distinct, so neither proof can be replayed as the other. */
const PEER_CONTEXT = 'fulcrum-gateway\n';
const SERVER_CONTEXT = 'fulcrum-gateway-server\n';
/** Longest nonce a gateway answers (ours are 32 hex characters). */
export const MAX_GATEWAY_NONCE_LENGTH = 128;

/** A fresh challenge for one gateway connection. */
export function gatewayNonce(): string {
  return randomBytes(16).toString('hex');
}

function hmac(secret: string, context: string, nonce: string): string {
  return createHmac('sha256', secret).update(context + nonce).digest('hex');
}

function check(expected: string, proof: unknown): boolean {
  if (typeof proof !== 'string') return false;
  const given = Buffer.from(proof, 'hex');
  const want = Buffer.from(expected, 'hex');
  return given.length === want.length && timingSafeEqual(given, want);
}

/** The peer's answer to the gateway's challenge: HMAC-SHA256(secret, "fulcrum-gateway\n" + nonce), hex. */
export function gatewayProof(secret: string, nonce: string): string {
  return hmac(secret, PEER_CONTEXT, nonce);
}

export function checkGatewayProof(secret: string, nonce: string, proof: unknown): boolean {
  return check(gatewayProof(secret, nonce), proof);
}

/** The gateway's answer to the peer's challenge: HMAC-SHA256(secret, "fulcrum-gateway-server\n" + nonce), hex. */
export function gatewayServerProof(secret: string, nonce: string): string {
  return hmac(secret, SERVER_CONTEXT, nonce);
}

export function checkGatewayServerProof(secret: string, nonce: string, proof: unknown): boolean {
  return check(gatewayServerProof(secret, nonce), proof);
}
