"""The Lua scripts of the Redis store (`redis.py`), each run atomically by Redis.

Each keeps a read-then-write whole on the server: owner checks, create-or-conflict, TTL restarts
and takes cannot interleave with another node's commands. `redis.py` builds their KEYS and ARGV as
the comment above each script describes.
"""

from __future__ import annotations

# The area scripts reply with a list that starts with one of these.
OK, NO_AREA, CONFLICT, NO_KEY, TOO_MANY_KEYS = 0, 1, 2, 3, 4

# Shared by the area scripts. KEYS: meta, str, bin of one area.
_AREA_LUA = (
    f"local OK, NO_AREA, CONFLICT, NO_KEY, TOO_MANY_KEYS = {OK}, {NO_AREA}, {CONFLICT}, "
    f"{NO_KEY}, {TOO_MANY_KEYS}\n"
    + """
local function load_area(caller_has, caller)
  local m = redis.call('HMGET', KEYS[1], 'label', 'ttl', 'touched', 'owner')
  if not m[2] then return nil, false end
  return m, (not m[4]) or (caller_has == '1' and m[4] == caller)
end
local function reply(m)
  if m[4] then return {OK, m[1], m[2], m[3], 1, m[4]} end
  return {OK, m[1], m[2], m[3], 0, ''}
end
local function touch(m, now, ttl)
  redis.call('HSET', KEYS[1], 'ttl', ttl, 'touched', now)
  local ms = tonumber(ttl) * 1000
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ms) end
  m[2], m[3] = ttl, now
end
"""
)
# ARGV: mode (create|write|claim), now, caller_has, caller, ttl ('' keeps the area's own),
# ttl of a new area, label of a new area, number of string pairs, the area's key limit ('': none),
# string pairs, binary pairs. The limit is checked before anything is written: a script that
# stops half way keeps what it wrote.
_WRITE_LUA = """
local mode, now = ARGV[1], ARGV[2]
local m, visible = load_area(ARGV[3], ARGV[4])
if m and mode == 'create' then return {CONFLICT} end
-- a custom id is claimed by its owner only: an anonymous area under that id is not theirs
if m and mode == 'claim' and m[4] ~= ARGV[4] then return {CONFLICT} end
if m and not visible then
  if mode == 'claim' then return {CONFLICT} end
  return {NO_AREA}
end
if not m and mode == 'write' then return {NO_AREA} end
local key_limit = tonumber(ARGV[9])
if key_limit then
  local keys = 0
  if m then keys = redis.call('HLEN', KEYS[2]) + redis.call('HLEN', KEYS[3]) end
  for i = 10, #ARGV, 2 do
    if not m or (redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0
                 and redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0) then
      keys = keys + 1
    end
  end
  if keys > key_limit then return {TOO_MANY_KEYS, key_limit} end
end
local ttl = ARGV[5]
if not m then
  -- leftovers of an expired area must not lend their keys to the new one
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  m = {ARGV[7], ARGV[6], now, false}
  redis.call('HSET', KEYS[1], 'label', ARGV[7])
  if ARGV[3] == '1' then
    m[4] = ARGV[4]
    redis.call('HSET', KEYS[1], 'owner', ARGV[4])
  end
  ttl = ARGV[6]
elseif ttl == '' then
  ttl = m[2]
end
local strings_end = 10 + 2 * tonumber(ARGV[8])
for i = 10, strings_end - 1, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('HDEL', KEYS[3], ARGV[i])
end
for i = strings_end, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
touch(m, now, ttl)
return reply(m)
"""
# ARGV: caller_has, caller, what (info|strings|value), key.
_READ_LUA = """
local m, visible = load_area(ARGV[1], ARGV[2])
if not m or not visible then return {NO_AREA} end
if ARGV[3] == 'strings' then return {OK, redis.call('HGETALL', KEYS[2])} end
if ARGV[3] == 'value' then
  local s = redis.call('HGET', KEYS[2], ARGV[4])
  if s then return {OK, 's', s} end
  local b = redis.call('HGET', KEYS[3], ARGV[4])
  if b then return {OK, 'b', b} end
  return {NO_KEY}
end
return reply(m)
"""
# ARGV: now, caller_has, caller, all ('1': every key), keys...
_DELETE_KEYS_LUA = """
local m, visible = load_area(ARGV[2], ARGV[3])
if not m or not visible then return {NO_AREA} end
if ARGV[4] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
else
  for i = 5, #ARGV do
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
end
touch(m, ARGV[1], m[2])
return reply(m)
"""
# ARGV: caller_has, caller.
_DELETE_LUA = """
local m, visible = load_area(ARGV[1], ARGV[2])
if not m or not visible then return {NO_AREA} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return {OK}
"""

# A reservation is a string key per (number, code) holding its JSON list
# [number, code, service_id, created_at, expires_at], set NX with its expiry. The
# number's sorted set (code by created_at) finds the newest; the service's set lists its keys.
# Both sets live as long as their longest-lived member. KEYS: reservation, number set, service set.
# ARGV: JSON, ms to live, code, created_at.
_RESERVE_LUA = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
redis.call('SADD', KEYS[3], KEYS[1])
local ms = tonumber(ARGV[2])
for i = 2, 3 do
  if redis.call('PTTL', KEYS[i]) < ms then redis.call('PEXPIRE', KEYS[i], ms) end
end
return 1
"""
# KEYS: number set. ARGV: reservation key prefix of the number, by_code ('1'|'0'), code,
# the store's key prefix.
# Members whose reservation expired are dropped on the way.
_TAKE_LUA = """
local function grab(code)
  local key = ARGV[1] .. code
  local v = redis.call('GET', key)
  redis.call('ZREM', KEYS[1], code)
  if not v then return false end
  redis.call('DEL', key)
  redis.call('SREM', ARGV[4] .. ':res-s:' .. cjson.decode(v)[3], key)
  return v
end
if ARGV[2] == '1' then return grab(ARGV[3]) end
for _, code in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local v = grab(code)
  if v then return v end
end
return false
"""
# KEYS: service set. ARGV: service id, the store's key prefix. A listed key may since have
# expired and been reserved by another service: only keys still held by this one go.
_RELEASE_LUA = """
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', key)
  if v then
    local r = cjson.decode(v)
    if r[3] == ARGV[1] then
      redis.call('DEL', key)
      redis.call('ZREM', ARGV[2] .. ':res-n:' .. r[1], r[2])
    end
  end
end
redis.call('DEL', KEYS[1])
return 0
"""

SCRIPTS = {
    "write": _AREA_LUA + _WRITE_LUA,
    "read": _AREA_LUA + _READ_LUA,
    "delete_keys": _AREA_LUA + _DELETE_KEYS_LUA,
    "delete": _AREA_LUA + _DELETE_LUA,
    "reserve": _RESERVE_LUA,
    "take": _TAKE_LUA,
    "release": _RELEASE_LUA,
}
