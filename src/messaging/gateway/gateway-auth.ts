import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const GATEWAY_CONTEXT = 'fulcrum-gateway\n';

/** A fresh challenge for one gateway connection. */
export function gatewayNonce(): string {
  return randomBytes(16).toString('hex');
}

/** The peer's answer to a challenge: HMAC-SHA256(secret, context + nonce), hex. */
export function gatewayProof(secret: string, nonce: string): string {
  return createHmac('sha256', secret).update(GATEWAY_CONTEXT + nonce).digest('hex');
}

export function checkGatewayProof(secret: string, nonce: string, proof: unknown): boolean {
  if (typeof proof !== 'string') return false;
  const given = Buffer.from(proof, 'hex');
  const expected = Buffer.from(gatewayProof(secret, nonce), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
