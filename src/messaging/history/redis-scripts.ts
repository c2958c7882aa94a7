// The Lua scripts of the Redis engine. Each runs atomically on the node holding the stream, so the
// offset, the epoch, the trims and the expiries of one stream always move together. Both keys of a
// stream share a hash tag (see redis-keys.ts): one slot in Redis Cluster.

/** Drops the entries older than the cutoff from the head (each entry carries its store time `t`). */
const TRIM_AGE = `
local function trim_age(S, cutoff)
  local head = redis.call('xrange', S, '-', '+', 'COUNT', 1)
  if not head[1] or tonumber(head[1][2][4]) >= cutoff then return end
  local start = '-'
  while true do
    local batch = redis.call('xrange', S, start, '+', 'COUNT', 128)
    if #batch == 0 then
      redis.call('del', S)
      return
    end
    for i = 1, #batch do
      if tonumber(batch[i][2][4]) >= cutoff then
        redis.call('xtrim', S, 'MINID', batch[i][1])
        return
      end
    end
    start = '(' .. batch[#batch][1]
  end
end
local function now_ms()
  local t = redis.call('time')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The meta hash: e = epoch, s = last offset, a = acked offset. A missing one (first use, flushed,
-- evicted, expired) starts a new epoch, and whatever entries are left belong to the old one.
local function open_meta(S, M, new_epoch)
  local m = redis.call('hmget', M, 'e', 's', 'a')
  if m[1] then return m[1], tonumber(m[2] or '0'), tonumber(m[3] or '0') end
  redis.call('del', S)
  redis.call('hset', M, 'e', new_epoch, 's', 0, 'a', 0)
  return new_epoch, 0, 0
end
`;

/**
 * KEYS: stream, meta, idempotency key (the meta key again when there is none).
 * ARGV: payload, maxMessages, ttlMs, metaTtlMs, new epoch, '1' when keyed, idempotency ttlMs.
 * Returns {offset, epoch}.
 */
export const APPEND_LUA = `${TRIM_AGE}
local S, M, I = KEYS[1], KEYS[2], KEYS[3]
if ARGV[6] == '1' then
  local seen = redis.call('hmget', I, 'e', 'o')
  if seen[1] then return {tonumber(seen[2]), seen[1]} end
end
local e = redis.call('hget', M, 'e')
if not e then e = open_meta(S, M, ARGV[5]) end
local top = redis.call('hincrby', M, 's', 1)
-- Size is trimmed here; age when the stream is read (and a stream idle for its ttl expires whole).
redis.call('xadd', S, 'MAXLEN', ARGV[2], top .. '-0', 'd', ARGV[1], 't', now_ms())
redis.call('pexpire', S, ARGV[3])
redis.call('pexpire', M, ARGV[4])
if ARGV[6] == '1' then
  redis.call('hset', I, 'e', e, 'o', top)
  redis.call('pexpire', I, ARGV[7])
end
return {top, e}
`;

/**
 * Many appends in one call (the Router's appends waiting for one call), in order.
 * KEYS: stream and meta of each append. ARGV: metaTtlMs, the new epoch (for any stream of the call
 * whose meta is missing; epochs are only compared within a stream), then per append: payload,
 * maxMessages, ttlMs. Returns {offset, epoch} per append, flattened.
 */
export const APPEND_MANY_LUA = `${TRIM_AGE}
local now = now_ms()
local out = {}
for i = 1, #KEYS / 2 do
  local S, M = KEYS[2 * i - 1], KEYS[2 * i]
  local a = 3 * i
  local e = redis.call('hget', M, 'e')
  if not e then e = open_meta(S, M, ARGV[2]) end
  local top = redis.call('hincrby', M, 's', 1)
  redis.call('xadd', S, 'MAXLEN', ARGV[a + 1], top .. '-0', 'd', ARGV[a], 't', now)
  redis.call('pexpire', S, ARGV[a + 2])
  redis.call('pexpire', M, ARGV[1])
  out[2 * i - 1] = top
  out[2 * i] = e
end
return out
`;

/**
 * KEYS: stream, meta.
 * ARGV: mode (p = after a position, o = after an offset, a = after the acked cursor, s = from the
 * start, t = the position only), epoch, offset, limit, ttlMs, metaTtlMs, new epoch.
 * Returns {epoch, top, after, recovered (0/1), entries}.
 */
export const READ_LUA = `${TRIM_AGE}
local S, M = KEYS[1], KEYS[2]
local e, top, acked = open_meta(S, M, ARGV[7])
redis.call('pexpire', M, ARGV[6])
trim_age(S, now_ms() - tonumber(ARGV[5]))
local mode = ARGV[1]
local after, lost = 0, false
if mode == 'a' then after = acked
elseif mode == 't' then after = top
elseif mode == 'o' then after = tonumber(ARGV[3])
elseif mode == 'p' then
  if ARGV[2] == e then after = tonumber(ARGV[3]) else lost = true end
end
if after > top then
  after = top
  lost = true
end
local entries = {}
local limit = tonumber(ARGV[4])
if mode ~= 't' and after < top and limit > 0 then
  entries = redis.call('xrange', S, (after + 1) .. '-0', '+', 'COUNT', limit)
end
local recovered = 0
if not lost and (after >= top or (entries[1] ~= nil and entries[1][1] == (after + 1) .. '-0')) then recovered = 1 end
return {e, top, after, recovered, entries}
`;

/**
 * KEYS: the meta of each user. ARGV: an epoch and an offset per key. Moves each acked cursor
 * forward within its current epoch (one call for many users; in Redis Cluster all keys of one
 * call share a slot); returns how many moved.
 */
export const ACK_LUA = `
local moved = 0
for i = 1, #KEYS do
  local m = redis.call('hmget', KEYS[i], 'e', 's', 'a')
  local o = tonumber(ARGV[2 * i])
  if m[1] == ARGV[2 * i - 1] and o > tonumber(m[3] or '0') and o <= tonumber(m[2] or '0') then
    redis.call('hset', KEYS[i], 'a', o)
    moved = moved + 1
  end
end
return moved
`;
