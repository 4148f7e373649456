//! The store's writes, each one Lua script: Redis runs a script whole, with nothing in
//! between, so a record, the id index and the secret index always agree, and the change is
//! published only once it is made. (`WATCH` would not do on a multiplexed connection that
//! may reconnect under it.) Key names come in as arguments, from the store's prefix.
//!
//! Errors a caller acts on are error replies whose first word names them:
//! `TOLLGATE_DUPLICATE_ID`, `TOLLGATE_DUPLICATE_SECRET`.

use std::sync::LazyLock;

use redis::Script;

/// KEYS: record, id index, current secret, previous secret (or ""). ARGV: id, channel,
/// then the record's fields and values.
pub(super) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then
            return redis.error_reply('TOLLGATE_DUPLICATE_ID a token with this id already exists')
        end
        if redis.call('EXISTS', KEYS[3]) == 1 or (KEYS[4] ~= '' and redis.call('EXISTS', KEYS[4]) == 1) then
            return redis.error_reply('TOLLGATE_DUPLICATE_SECRET another token already uses this secret')
        end
        redis.call('HSET', KEYS[1], unpack(ARGV, 3))
        redis.call('ZADD', KEYS[2], 0, ARGV[1])
        redis.call('SET', KEYS[3], ARGV[1])
        if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[1]) end
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return 1
        ",
    )
});

/// KEYS: the secret's index entry. ARGV: the record key prefix. The id and the record's
/// fields, or nil.
pub(super) static FIND_BY_HASH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local id = redis.call('GET', KEYS[1])
        if not id then return false end
        return {id, redis.call('HGETALL', ARGV[1] .. id)}
        ",
    )
});

/// KEYS: the id index. ARGV: the record key prefix, the id to continue after (or ""), how
/// many. Each id with its record's fields (empty if it went meanwhile).
pub(super) static PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local from = '-'
        if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
        local ids = redis.call('ZRANGE', KEYS[1], from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
        local page = {}
        for i, id in ipairs(ids) do
            page[i] = {id, redis.call('HGETALL', ARGV[1] .. id)}
        end
        return page
        ",
    )
});

/// ARGV: the record key prefix, then pairs of id and time (unix microseconds). A time
/// never moves back; ids without a record are skipped.
pub(super) static RECORD_USE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        for i = 2, #ARGV, 2 do
            local key = ARGV[1] .. ARGV[i]
            if redis.call('EXISTS', key) == 1 then
                local used = redis.call('HGET', key, 'used')
                if not used or tonumber(used) < tonumber(ARGV[i + 1]) then
                    redis.call('HSET', key, 'used', ARGV[i + 1])
                end
            end
        end
        return 1
        ",
    )
});

/// KEYS: record. ARGV: id, channel, now (unix microseconds), how many fields to remove,
/// their names, then fields and values to set. `updated` becomes now; `revoked` is set when
/// the status turns inactive and removed when it turns active. The new record's fields, or
/// nil for an unknown id.
pub(super) static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return false end
        local was = redis.call('HGET', KEYS[1], 'status')
        local removed = tonumber(ARGV[4])
        for i = 5, 4 + removed do redis.call('HDEL', KEYS[1], ARGV[i]) end
        if #ARGV > 4 + removed then redis.call('HSET', KEYS[1], unpack(ARGV, 5 + removed)) end
        local status = redis.call('HGET', KEYS[1], 'status')
        if status == 'inactive' and was == 'active' then
            redis.call('HSET', KEYS[1], 'revoked', ARGV[3])
        elseif status == 'active' then
            redis.call('HDEL', KEYS[1], 'revoked')
        end
        redis.call('HSET', KEYS[1], 'updated', ARGV[3])
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return redis.call('HGETALL', KEYS[1])
        ",
    )
});

/// KEYS: record, id index. ARGV: id, channel, secret key prefix. 1 when it was deleted.
pub(super) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local hashes = redis.call('HMGET', KEYS[1], 'hash', 'prev')
        if redis.call('DEL', KEYS[1]) == 0 then return 0 end
        redis.call('ZREM', KEYS[2], ARGV[1])
        for i = 1, 2 do
            if hashes[i] then
                local key = ARGV[3] .. hashes[i]
                if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
            end
        end
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return 1
        ",
    )
});

/// KEYS: record. ARGV: id, channel, secret key prefix, the new hash, until when the old
/// secret works (unix microseconds, or "" for not at all), now. The new record's fields, or
/// nil for an unknown id.
pub(super) static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local new_key = ARGV[3] .. ARGV[4]
        -- Taken by any token, this one included, in either role: as in every store.
        if redis.call('EXISTS', new_key) == 1 then
            return redis.error_reply('TOLLGATE_DUPLICATE_SECRET another token already uses this secret')
        end
        if redis.call('EXISTS', KEYS[1]) == 0 then return false end
        local current = redis.call('HGET', KEYS[1], 'hash')
        local previous = redis.call('HGET', KEYS[1], 'prev')
        local function unindex(hash)
            if hash then
                local key = ARGV[3] .. hash
                if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
            end
        end
        unindex(previous)
        if ARGV[5] ~= '' then
            redis.call('HSET', KEYS[1], 'prev', current, 'prev_until', ARGV[5])
        else
            redis.call('HDEL', KEYS[1], 'prev', 'prev_until')
            unindex(current)
        end
        redis.call('SET', new_key, ARGV[1])
        redis.call('HSET', KEYS[1], 'hash', ARGV[4], 'updated', ARGV[6])
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return redis.call('HGETALL', KEYS[1])
        ",
    )
});
