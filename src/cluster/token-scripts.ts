/**
 * The Lua scripts through which the cluster's token store (redis-tokens.ts) changes Redis: each
 * runs atomically, so a check and the write that depends on it (a free port, an existing target)
 * cannot be interleaved with another instance's write. Every script takes the key prefix as its
 * first argument; the change scripts refuse with 'noepoch' when Redis lost its data (no `epoch`).
 */

/** Checks, reserves the port, writes, bumps `rev` and publishes: returns rev or a refusal word. */
export const PUT_SCRIPT = `
local p, h, rec, port, owner, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local epoch = redis.call('GET', p .. 'epoch')
if not epoch then return 'noepoch' end
local exists = redis.call('HEXISTS', p .. 'tokens', h) == 1
if mode == 'add' and exists then return 'exists' end
if mode == 'update' and not exists then return 'missing' end
if owner ~= '' and redis.call('HEXISTS', p .. 'tokens', owner) == 0 then return 'target' end
if mode == 'add' and port ~= '0' and redis.call('HSETNX', p .. 'ports', port, h) == 0 then return 'port' end
redis.call('HSET', p .. 'tokens', h, rec)
if owner ~= '' then redis.call('SADD', p .. 'deps:' .. owner, h) end
redis.call('ZREM', p .. 'deleted', h)
local rev = redis.call('INCR', p .. 'rev')
redis.call('PUBLISH', p .. 'changes', '{"r":' .. rev .. ',"e":' .. cjson.encode(epoch) .. ',"op":"put","h":"' .. h .. '","rec":' .. rec .. '}')
return rev
`;

/** Removes a token and its dependants (connectors, internal tokens and theirs), frees ports. */
export const REMOVE_SCRIPT = `
local p, root, now, keep = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local epoch = redis.call('GET', p .. 'epoch')
if not epoch then return 'noepoch' end
if redis.call('HEXISTS', p .. 'tokens', root) == 0 then return 0 end
local order = {}
local function collect(h, depth)
  if depth < 4 then
    for _, d in ipairs(redis.call('SMEMBERS', p .. 'deps:' .. h)) do collect(d, depth + 1) end
  end
  table.insert(order, h)
end
collect(root, 0)
local removed = {}
for _, h in ipairs(order) do
  local raw = redis.call('HGET', p .. 'tokens', h)
  if raw then
    local ok, rec = pcall(cjson.decode, raw)
    if ok and type(rec) == 'table' then
      if type(rec.port) == 'number' and rec.port > 0 then
        local port = string.format('%d', rec.port)
        if redis.call('HGET', p .. 'ports', port) == h then redis.call('HDEL', p .. 'ports', port) end
      end
      local owner = rec.target or rec.parent
      if type(owner) == 'string' then redis.call('SREM', p .. 'deps:' .. owner, h) end
    end
    redis.call('HDEL', p .. 'tokens', h)
    redis.call('ZADD', p .. 'deleted', now, h)
    table.insert(removed, h)
  end
  redis.call('DEL', p .. 'deps:' .. h)
end
redis.call('ZREMRANGEBYRANK', p .. 'deleted', 0, -(keep + 1))
local rev = redis.call('INCR', p .. 'rev')
redis.call('PUBLISH', p .. 'changes', '{"r":' .. rev .. ',"e":' .. cjson.encode(epoch) .. ',"op":"del","h":' .. cjson.encode(removed) .. '}')
return rev
`;

export const ACCESS_SCRIPT = `
local p, value = ARGV[1], ARGV[2]
local epoch = redis.call('GET', p .. 'epoch')
if not epoch then return 'noepoch' end
redis.call('SET', p .. 'access', value)
local rev = redis.call('INCR', p .. 'rev')
redis.call('PUBLISH', p .. 'changes', '{"r":' .. rev .. ',"e":' .. cjson.encode(epoch) .. ',"op":"access","v":' .. value .. '}')
return rev
`;

/**
 * 'init': only when `epoch` is absent (Redis empty): sets epoch, check, access, then the records.
 * 'merge': only into the epoch the caller loaded: records Redis lacks and never removed.
 * Records come as (hash, record, port, owner) quadruples, owners first. Returns 0 when refused.
 */
export const SEED_SCRIPT = `
local p, mode, epoch, check, access, nargs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], #ARGV
if mode == 'init' then
  if redis.call('EXISTS', p .. 'epoch') == 1 then return 0 end
  redis.call('SET', p .. 'epoch', epoch)
  redis.call('SET', p .. 'check', check)
  if access ~= '' then redis.call('SET', p .. 'access', access) end
elseif redis.call('GET', p .. 'epoch') ~= epoch then
  return 0
end
local n = 0
for i = 6, nargs, 4 do
  local h, rec, port, owner = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HEXISTS', p .. 'tokens', h) == 0 and not redis.call('ZSCORE', p .. 'deleted', h)
    and (owner == '' or redis.call('HEXISTS', p .. 'tokens', owner) == 1)
    and (port == '0' or redis.call('HSETNX', p .. 'ports', port, h) == 1) then
    redis.call('HSET', p .. 'tokens', h, rec)
    if owner ~= '' then redis.call('SADD', p .. 'deps:' .. owner, h) end
    n = n + 1
  end
end
redis.call('INCR', p .. 'rev')
redis.call('PUBLISH', p .. 'changes', '{"op":"reload"}')
return n + 1
`;
