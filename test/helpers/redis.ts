import { redisUrlOf, startRedis, type LocalRedisSpec } from '../../src/tools/local-redis.js';

/** The Redis the test run shares. Port: FULCRUM_TEST_REDIS_PORT (default 6390); data in .redis/test. */
export const TEST_REDIS: LocalRedisSpec = { dir: '.redis/test', port: Number(process.env.FULCRUM_TEST_REDIS_PORT ?? 6390) };

/** URL of the shared test Redis (`redis://127.0.0.1:port`), started on first use (it outlives the test file). */
export async function testRedis(): Promise<string> {
  if (process.env.FULCRUM_TEST_REDIS) return process.env.FULCRUM_TEST_REDIS;
  await startRedis(TEST_REDIS);
  return (process.env.FULCRUM_TEST_REDIS = redisUrlOf(TEST_REDIS.port));
}
